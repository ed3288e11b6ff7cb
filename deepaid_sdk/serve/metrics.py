"""Prometheus metrics of one server (their own registry: two apps in one process do not share them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Requests by route and status, latency, batch sizes, queue depth, alerts explained."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "deepaid_serve_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram("deepaid_serve_request_seconds", "request latency (s)", ["route"], registry=r)
        self.batch = Histogram(
            "deepaid_serve_batch_alerts",
            "alerts per interpreter call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.queue = Gauge("deepaid_serve_queue_alerts", "alerts waiting for the interpreter", registry=r)
        self.alerts = Counter("deepaid_serve_alerts_explained", "alerts explained", registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)
