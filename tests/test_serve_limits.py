"""Queue full -> 503 with Retry-After; a request past its timeout -> 504 (a slow stand-in model)."""

from __future__ import annotations

import threading
import time

import numpy as np

from deepaid_sdk.serve.app import make_app
from deepaid_sdk.serve.client import ThreadServer, call
from deepaid_sdk.serve.security import Limits


class SlowModel:
    """Checks nothing, takes ``seconds`` per call, answers one record per alert."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def check(self, alerts):
        return np.zeros((len(alerts), 1))

    def records(self, rows, ids):
        time.sleep(self.seconds)
        return [{"id": i} for i in ids]

    def describe(self):
        return {}


BODY = {"alerts": [{"id": "a", "features": {}}]}


def test_timeout_is_504():
    server = ThreadServer(make_app(SlowModel(1.0), Limits(timeout_s=0.1)))  # type: ignore[arg-type]
    try:
        status, _, body = call(server.port, "/v1/explain", BODY)
        assert status == 504 and "timeout" in body["error"]
    finally:
        server.stop()


def test_full_queue_is_503_with_retry_after():
    server = ThreadServer(make_app(SlowModel(1.0), Limits(timeout_s=20), max_batch=1, max_queue=1))  # type: ignore[arg-type]
    answers: list[int] = []
    try:
        first = threading.Thread(target=lambda: answers.append(call(server.port, "/v1/explain", BODY)[0]))
        first.start()  # taken by the worker: it runs for 1 s
        time.sleep(0.3)
        second = threading.Thread(target=lambda: answers.append(call(server.port, "/v1/explain", BODY)[0]))
        second.start()  # waits in the queue (one alert: the queue is full)
        time.sleep(0.3)
        status, headers, body = call(server.port, "/v1/explain", BODY)
        assert status == 503 and "busy" in body["error"]
        assert {k.lower(): v for k, v in headers.items()}.get("retry-after") == "1"
        first.join(10)
        second.join(10)
        assert answers == [200, 200]
    finally:
        server.stop()
