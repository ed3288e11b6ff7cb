"""The deepaid command line and the evaluation metrics."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepaid_sdk import __version__, evaluation
from deepaid_sdk.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_plugins_json_lists_builtins(capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {c["name"] for c in data["components"]["constraints"]}
    assert {"fidelity", "stability", "conciseness", "box", "integer", "frozen", "onehot"} <= names
    assert {c["name"] for c in data["components"]["distances"]} >= {"l0", "l1", "l2", "linf", "hamming"}


def test_unknown_command_and_option_fail_in_one_line():
    for args in (["frobnicate"], ["plugins", "--yaml"], ["bench", "nope"], ["demo", "nope"]):
        proc = subprocess.run([sys.executable, "-m", "deepaid_sdk.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 2, args
        errors = [line for line in proc.stderr.splitlines() if not line.startswith("deepaid: warning:")]
        assert len(errors) == 1 and "error" in errors[0], proc.stderr


def test_label_flip_and_precision_recall():
    assert evaluation.label_flip_rate([True, False, True, True]) == 0.75
    changed = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    truth = np.array([[1, 0, 0, 0], [0, 0, 1, 1]], dtype=bool)
    precision, recall = evaluation.precision_recall_at_k(changed, truth)
    assert precision == pytest.approx(0.75) and recall == pytest.approx(1.0)


def test_jaccard_stability_conciseness():
    a = np.array([[1, 1, 0], [0, 0, 0]], dtype=bool)
    b = np.array([[1, 0, 0], [0, 0, 0]], dtype=bool)
    assert evaluation.jaccard(a, b).tolist() == [0.5, 1.0]
    assert evaluation.stability([a, a, b]) == pytest.approx((1.0 + 0.75 + 0.75) / 3)
    assert evaluation.conciseness(a) == 1.0
    with pytest.raises(ValueError, match="at least 2 runs"):
        evaluation.stability([a])


def test_robustness_uses_noise_and_throughput_counts():
    explain = lambda x: np.abs(x) > 1.0  # noqa: E731 - a toy explainer
    x = np.array([[2.0, 0.0, 5.0], [0.0, 3.0, 0.0]])
    assert evaluation.robustness(explain, x, noise=0.01) == 1.0
    # near the explainer's boundary, noise changes the sets: the metric must see it
    edge = np.array([[1.001, 0.999, 1.001, 0.999]] * 8)
    assert evaluation.robustness(explain, edge, noise=0.0) == 1.0
    assert evaluation.robustness(explain, edge, noise=0.5, scale=1.0) < 0.9
    calls = []
    rate, result = evaluation.throughput(lambda: calls.append(1) or 42, n=10, repeat=3)
    assert result == 42 and len(calls) == 3 and 0 < rate < float("inf")


def _mixed_batch():
    """Two alerts (one the search flips, one it cannot) and two rows the detector already accepts."""
    import deepaid_sdk

    interp = deepaid_sdk.create("gradient", model=lambda x: x.abs().amax(dim=1), threshold=1.0, k=1, sample_shape=(3,))
    x = np.array([[5.0, 0.0, 0.0], [0.1, 0.2, 0.0], [4.0, 4.0, 0.0], [0.0, 0.3, 0.1]], dtype=np.float32)
    return interp.interpret_batch(x)


def test_rates_count_alerts_only():
    batch = _mixed_batch()
    assert evaluation.alert_rows(batch).tolist() == [True, False, True, False]
    assert batch.flipped.tolist() == [True, True, False, True]  # accepted rows come back "flipped"
    assert evaluation.label_flip_rate(batch) == 0.5  # 1 of 2 alerts, not 3 of 4
    # 1 change for the first alert; the second cannot flip with k=1 and a change that does not lower
    # its score is undone: (1 + 0) / 2 over the alerts, not / 4 with the unchanged normal rows
    assert evaluation.conciseness(batch) == 0.5
    truth = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)
    precision, recall = evaluation.precision_recall_at_k(batch, truth, k=1)
    assert precision == 0.5 and recall == 0.5  # the second alert names nothing: over alerts, (1 + 0) / 2
    assert evaluation.stability([batch, batch]) == 1.0
    assert evaluation.label_flip_rate([True, True, False, True], alerts=[True, False, True, False]) == 0.5
    with pytest.raises(ValueError, match="none of its 2 rows is an alert"):
        evaluation.label_flip_rate([True, True], alerts=[False, False])
    with pytest.raises(ValueError, match=r"alerts: expected 4 flags"):
        evaluation.conciseness(batch, alerts=[True])


def test_bench_core_runs_small_and_reports_both_methods():
    proc = subprocess.run(
        [sys.executable, "-m", "deepaid_sdk.cli", "bench", "core", "--n", "6", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["name"] == "core"
    rows = report["results"]
    assert [row["method"] for row in rows] == ["batched", "per-sample loop"]
    alerts = rows[0]["anomalies"]
    assert 1 <= alerts <= 6 and rows[1]["anomalies"] == alerts
    # The same search, batched or one row at a time: it flips every alert (measured) and changes the same sets.
    assert [row["flip rate"] for row in rows] == [1.0, 1.0]
    assert all(row["anomalies/s"] > 0 for row in rows)
    assert f"identical changed sets: 1.0000 of {alerts} alerts" in report["notes"]
