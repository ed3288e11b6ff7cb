"""The plugin as users meet it: registry entries, the demo, the benchmark case."""

import numpy as np

from deepaid_plugin_multits.adapters import LSTMPredictorAdapter
from deepaid_plugin_multits.bench import build_case, build_context_case
from deepaid_plugin_multits.demo import run
from deepaid_plugin_multits.detector import fit_detector
from deepaid_plugin_multits.synthetic import make_multits
from deepaid_sdk.bench.compare import compare
from deepaid_sdk.registry import registry


def test_registry_lists_the_components():
    reg = registry(refresh=True)
    assert reg.get("adapters", "lstm-predictor").factory is LSTMPredictorAdapter
    for kind in ("interpreters", "demos", "benchmarks"):
        assert reg.get(kind, "multits").provider == "multits"
    assert reg.to_dict()["plugins"]


def test_demo_runs_small_and_writes_plots(tmp_path, monkeypatch, capsys):
    import matplotlib  # noqa: F401 - in the test environment: a missing one must fail, not skip

    monkeypatch.chdir(tmp_path)  # the detector cache goes to ./.deepaid-cache
    assert run(tmp_path / "out", events=8, train_steps=1200, epochs=6, show=1) == 0
    printed = capsys.readouterr().out
    assert "steps='last'" in printed and "steps='all'" in printed and "label-flip rate" in printed
    assert "t=16" in printed  # changed cells are (step, feature) pairs of the last vector
    for name in ("multits-alert-0-bars.png", "multits-alert-0-window.png", "multits-heatmap.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert list((tmp_path / ".deepaid-cache").glob("multits-lstm-*.pt"))


def test_benchmark_case_runs_through_compare(tmp_path):
    data = make_multits(features=5, window=6, train_steps=1000, events=12, planted=2, seed=2)
    det = fit_detector(data, epochs=6, hidden=16, cache_dir=tmp_path)
    case = build_case(det, baselines=False)
    assert list(case.explainers) == ["deepaid", "deepaid-all-steps"]
    assert case.k == 2 and case.truth.shape == case.anomalies.shape
    np.testing.assert_array_equal(case.is_normal(case.anomalies), np.zeros(len(case.anomalies), dtype=bool))
    report = compare(case, None, seeds=2)
    assert [row[1] for row in report.rows] == ["deepaid", "deepaid-all-steps"]
    assert all(row[2] is not None for row in report.rows), report.notes


def test_context_case_runs_through_compare(tmp_path):
    data = make_multits(
        features=5, window=6, train_steps=1000, events=30, planted=2, kinds=("spike",), magnitude=(8.0, 12.0), seed=2
    )
    det = fit_detector(data, epochs=6, hidden=16, cache_dir=tmp_path)
    case = build_context_case(det, baselines=False)
    assert list(case.explainers) == ["deepaid-all-steps-score", "deepaid-all-steps"]
    assert case.truth[:, -1].sum() == 0 and case.truth.any(axis=(1, 2)).all()  # planted in context rows only
    np.testing.assert_array_equal(case.is_normal(case.anomalies), np.zeros(len(case.anomalies), dtype=bool))
    report = compare(case, None, seeds=2)
    recall = {row[1]: row[3] for row in report.rows}
    assert recall["deepaid-all-steps-score"] > recall["deepaid-all-steps"], report.text()


def test_cached_detector_is_reloaded_identically(tmp_path):
    data = make_multits(features=4, window=5, train_steps=600, events=5, planted=1, seed=3)
    first = fit_detector(data, epochs=2, hidden=8, cache_dir=tmp_path)
    second = fit_detector(data, epochs=2, hidden=8, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("multits-lstm-*.pt"))) == 1
    assert first.adapter.threshold == second.adapter.threshold


def test_training_is_reproducible_whatever_the_global_rng_state(tmp_path):
    import torch

    data = make_multits(features=3, window=4, train_steps=300, events=3, planted=1, seed=4)
    torch.manual_seed(123)
    first = fit_detector(data, epochs=1, hidden=4, cache_dir=tmp_path / "a")
    torch.rand(7)  # the global generator moved on
    second = fit_detector(data, epochs=1, hidden=4, cache_dir=tmp_path / "b")
    a, b = first.adapter.model.state_dict(), second.adapter.model.state_dict()
    assert list(a) == list(b) and len(a) > 0
    for name, p in a.items():
        assert torch.equal(p, b[name]), name
