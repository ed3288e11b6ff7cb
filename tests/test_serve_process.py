"""``deepaid serve`` as a real process: SIGTERM finishes the in-flight request and exits 0; clear refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from deepaid_sdk.serve.client import call


def _argv(files, *extra):
    argv = files.cli_args(input=False, normal=True)
    argv = ["serve" if a == "explain" else a for a in argv]
    argv = [a for a in argv if a not in ("--id-column", "event", "--quiet")]
    return [sys.executable, "-m", "deepaid_sdk.cli", *argv, *extra]


def _start(files, *extra):
    proc = subprocess.Popen(
        _argv(files, "--port", "0", *extra), stderr=subprocess.PIPE, text=True, env={**os.environ, "DEEPAID_QUIET": "1"}
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1)), lines
    raise AssertionError("the server did not start:\n" + "".join(lines))


def test_sigterm_finishes_the_request_in_flight(explain_files):
    # A long batch wait holds the request in the server while SIGTERM arrives.
    proc, port, lines = _start(explain_files, "--max-wait-ms", "1500", "--max-batch", "1000")
    try:
        alert = {"id": "x", "features": {n: float(v) for n, v in zip(explain_files.names, explain_files.anomalies[0])}}
        answer: dict = {}
        sender = threading.Thread(
            target=lambda: answer.update(zip(("status", "h", "body"), call(port, "/v1/explain", {"alerts": [alert]})))
        )
        sender.start()
        for _ in range(500):
            if call(port, "/readyz")[2]["queued"]:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        sender.join(30)
        assert answer["status"] == 200, answer
        assert answer["body"]["records"][0]["id"] == "x"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + proc.stderr.read()
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    explained = [a for a in access if a["path"] == "/v1/explain"]
    assert explained and explained[0]["status"] == 200
    assert str(alert["features"]["f0"]) not in log  # access logs carry no feature values


def test_non_loopback_without_token_is_refused(explain_files):
    done = subprocess.run(_argv(explain_files, "--host", "0.0.0.0"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--token-file" in done.stderr and "Traceback" not in done.stderr
