"""``deepaid bench serve``: alerts/s and latency of ``deepaid serve`` beside its two ceilings, in one run.

A small tabular autoencoder (D=20) is served on a free loopback port (uvicorn in a thread of this
process; the clients are threads of this process too, so they share its cores and the GIL with the
server). Scenarios: 1, 8 and 64 client threads sending one alert per request, and 64 threads sending
32 alerts per request; each sends a fixed count of alerts, bounded in time. Beside them: the same rows
through the interpreter in-process (``ServeModel.records`` on batches of 64: the model ceiling) and a
trivial stdlib ``http.server`` endpoint answering the same bodies with no work (the HTTP ceiling).
Figures: alerts/s, p50/p99 request latency, mean alerts per interpreter call (from ``/metrics``).
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import statistics
import threading
import time
from typing import Any

import numpy as np

from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.bench.speed import load
from deepaid_sdk.progress import progress

WIDTH, SECONDS = 20, 20.0
#: (client threads, alerts per request)
SCENARIOS = ((1, 1), (8, 1), (64, 1), (64, 32))


def _model(n: int, seed: int) -> tuple[Any, np.ndarray]:
    from deepaid_sdk.bench.synthetic import manifold_data, train_autoencoder
    from deepaid_sdk.explain.spec import ExplainSpec
    from deepaid_sdk.serve.engine import ServeModel

    normal, anomalies, _ = manifold_data(512, n, WIDTH, 4, 3, seed)
    model = train_autoencoder(normal, epochs=8, seed=seed, hidden=32, bottleneck=4)
    names = [f"f{i}" for i in range(WIDTH)]
    spec = ExplainSpec(preset="tabular", model=model, normal=normal, columns=names)
    return ServeModel.load(spec), anomalies.astype(np.float64)


def _clients(port: int, bodies: list[bytes], threads: int, seconds: float) -> tuple[float, list[float], int]:
    """Send ``bodies`` from ``threads`` keep-alive connections; (wall s, latencies s, bodies answered)."""
    latencies: list[float] = []
    lock, next_body = threading.Lock(), iter(range(len(bodies)))
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle / delayed-ACK stalls
        while time.perf_counter() < deadline:
            with lock:
                i = next(next_body, None)
            if i is None:
                break
            started = time.perf_counter()
            conn.request("POST", "/v1/explain", bodies[i], {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"bench serve: HTTP {response.status}")
            with lock:
                latencies.append(time.perf_counter() - started)
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started, latencies, len(latencies)


class _Trivial(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"records":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # 64 clients connect at once
    daemon_threads = True


def _batches(port: int) -> tuple[float, float]:
    """(sum, count) of the server's batch-size histogram."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    got = {
        line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("deepaid_serve_batch")
    }
    return got.get("deepaid_serve_batch_alerts_sum", 0.0), got.get("deepaid_serve_batch_alerts_count", 0.0)


def _row(name: str, wall: float, latencies: list[float], alerts: int, batch: float | None, ceil: float) -> tuple:
    per_s = alerts / wall
    q = sorted(latencies)
    p50 = statistics.median(q) * 1000 if q else float("nan")
    p99 = q[min(len(q) - 1, int(0.99 * len(q)))] * 1000 if q else float("nan")
    mean_batch = "-" if batch is None else round(batch, 1)
    return (name, alerts, round(per_s, 1), round(p50, 2), round(p99, 2), mean_batch, round(per_s / ceil, 3))


def _bodies(x: np.ndarray, per_request: int, count: int) -> list[bytes]:
    names = [f"f{i}" for i in range(WIDTH)]
    alerts = [{"id": i, "features": dict(zip(names, map(float, x[i % len(x)])))} for i in range(count)]
    return [json.dumps({"alerts": alerts[i : i + per_request]}).encode() for i in range(0, count, per_request)]


def _in_process(model: Any, x: np.ndarray) -> float:
    """Alerts/s of the interpreter on ``x`` in batches of 64, no HTTP (the model ceiling)."""
    started = time.perf_counter()
    for i in range(0, len(x), 64):
        model.records(x[i : i + 64], list(range(i, min(i + 64, len(x)))))
    return len(x) / (time.perf_counter() - started)


def _trivial(bodies: list[bytes], threads: int) -> float:
    """Requests/s of a stdlib endpoint that only reads the body (the HTTP ceiling)."""
    server = _Server(("127.0.0.1", 0), _Trivial)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        wall, _, answered = _clients(server.server_address[1], bodies, threads, SECONDS)
    finally:
        server.shutdown()
        server.server_close()
    return answered / wall


def run_benchmark(n: int | None = None, seed: int = 0, device: str = "cpu", **_: Any) -> BenchmarkReport:
    """Each scenario sends ``n`` alerts (default 512), at most 20 s each; see the module docstring."""
    from deepaid_sdk.serve.app import make_app
    from deepaid_sdk.serve.client import ThreadServer
    from deepaid_sdk.serve.security import Limits

    n = n or 512
    model, x = _model(max(n, 64), seed)
    model.records(x[:8], list(range(8)))  # warm up
    ceiling = _in_process(model, x[:n] if len(x) >= n else np.resize(x, (n, WIDTH)))
    server = ThreadServer(make_app(model, Limits(max_alerts=64), max_batch=64, max_wait_ms=2.0))
    rows: list[tuple[Any, ...]] = [
        ("in-process interpret_batch (64/call)", n, round(ceiling, 1), "-", "-", 64, 1.0, "-")
    ]
    try:
        for threads, per_request in progress(SCENARIOS, desc="bench serve", unit="scenario"):
            bodies = _bodies(x, per_request, n)
            before = _batches(server.port)
            wall, latencies, answered = _clients(server.port, bodies, threads, SECONDS)
            after = _batches(server.port)
            calls = after[1] - before[1]
            batch = (after[0] - before[0]) / calls if calls else None
            http_ceiling = _trivial(bodies, threads) * per_request
            row = _row(
                f"serve {threads} clients x {per_request}", wall, latencies, answered * per_request, batch, ceiling
            )
            rows.append((*row, round(row[2] / http_ceiling, 3)))
            rows.append(("  http.server, same clients", "-", round(http_ceiling, 1), "-", "-", "-", "-", 1.0))
    finally:
        server.stop()
    return BenchmarkReport(
        name="serve",
        columns=("what", "alerts", "alerts/s", "p50 ms", "p99 ms", "mean batch", "vs in-process", "vs http.server"),
        rows=tuple(rows),
        setup={"D": WIDTH, "n": n, "seed": seed, "max_batch": 64, "max_wait_ms": 2.0, "at_start": load()},
        notes=(f"clients and server share this process (threads, GIL); {load()} at the end",),
    )
