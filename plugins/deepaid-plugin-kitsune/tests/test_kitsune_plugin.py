"""The plugin as installed: registered components, the demo end to end, the benchmark case."""

from __future__ import annotations

import re

import numpy as np

from deepaid_plugin_kitsune.bench import kitsune_case
from deepaid_plugin_kitsune.demo import run as run_demo
from deepaid_sdk.registry import registry


def test_registry_shows_the_kitsune_components() -> None:
    reg = registry(refresh=True)
    for kind, name in (
        ("adapters", "kitnet"),
        ("interpreters", "kitsune"),
        ("demos", "kitsune"),
        ("benchmarks", "kitsune"),
    ):
        assert reg.get(kind, name).provider == "kitsune"
    assert not [f for f in reg.failures if f.plugin == "kitsune"]


def test_demo_runs_small(tmp_path, capsys) -> None:
    assert run_demo(tmp_path, n_normal=2000, n_anomalies=30, packets=200, top=1) == 0
    out = capsys.readouterr().out
    assert "AfterImage: 200 packets" in out and "label-flip rate" in out
    assert "feature" in out and ("_weight" in out or "_mean" in out)
    assert (tmp_path / "kitsune-demo.pcap").is_file()
    alert_plots = list(tmp_path.glob("kitsune-alert-*.png"))
    assert len(alert_plots) == 1 and alert_plots[0].stat().st_size > 0
    shown = re.search(r"\nalert (\d+) \(", out).group(1)  # the file is named for the alert the text shows
    assert alert_plots[0].name == f"kitsune-alert-{shown}.png"
    assert (tmp_path / "kitsune-heatmap.png").stat().st_size > 0


def test_benchmark_case_holds_alerts_truth_and_explainers(tmp_path) -> None:
    case = kitsune_case(12, seed=1, cache=tmp_path)
    assert case.k == 5 and case.anomalies.shape == (12, 115) and case.truth.shape == (12, 115)
    assert list(case.explainers)[0] == "deepaid"
    assert not case.is_normal(case.anomalies).any()
    result = case.explainers["deepaid"](case.anomalies, 0)
    assert result.flip_rate >= 0.9
    np.testing.assert_array_equal(case.is_normal(result.references), result.flipped)
    assert list(tmp_path.glob("kitsune-kitnet-*.pt"))  # the detector is cached for the next run
    again = kitsune_case(12, seed=1, cache=tmp_path)
    np.testing.assert_array_equal(again.anomalies, case.anomalies)
