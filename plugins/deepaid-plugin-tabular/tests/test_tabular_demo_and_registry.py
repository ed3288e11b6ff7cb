"""The plugin's registrations, its demo and its benchmark case (small sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepaid_sdk
from deepaid_plugin_tabular import AutoencoderAdapter, GridConstraint, synthetic, tabular_interpreter
from deepaid_plugin_tabular.bench import build_case
from deepaid_plugin_tabular.demo import run as run_demo
from deepaid_sdk.bench.case import BenchmarkCase
from deepaid_sdk.cli import main


def test_registry_lists_the_tabular_components(capsys):
    reg = deepaid_sdk.registry()
    for kind, name, factory in [
        ("interpreters", "tabular", tabular_interpreter),
        ("adapters", "autoencoder", AutoencoderAdapter),
        ("constraints", "grid", GridConstraint),
    ]:
        comp = reg.get(kind, name)
        built_by = comp.factory.build if kind == "interpreters" else comp.factory  # a preset: its declaration
        assert comp.provider == "tabular" and built_by is factory
    assert reg.get("demos", "tabular").provider == "tabular"
    assert reg.get("benchmarks", "tabular").provider == "tabular"
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    mine = next(p for p in listing["plugins"] if p["name"] == "tabular")
    assert mine["distribution"] == "deepaid-plugin-tabular"
    assert mine["components"]["interpreters"] == ["tabular"]


def test_demo_runs_small_and_writes_plots(tmp_path, capsys):
    import matplotlib  # noqa: F401 - in the test environment: a missing one must fail, not skip

    assert run_demo(tmp_path / "out", n_normal=600, n_anomalies=12, cache_dir=tmp_path / "cache") == 0
    text = capsys.readouterr().out
    assert "recall@10" in text and "reference judged normal" in text
    assert text.count("feature ") >= 3  # three tables
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert "tabular-heatmap.png" in pngs and len(pngs) == 4
    assert (tmp_path / "out" / "tabular-anomalies.csv").read_text().startswith("f000_")
    # The trained detector is cached as one state dict.
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1


def test_cached_autoencoder_round_trips_its_weights(tmp_path):
    table = synthetic.blob(n_normal=200, n_anomalies=2, width=8, shifted=2)
    first = synthetic.cached_autoencoder(table.normal, cache_dir=tmp_path, epochs=2, hidden=8, bottleneck=2)
    again = synthetic.cached_autoencoder(table.normal, cache_dir=tmp_path, epochs=2, hidden=8, bottleneck=2)
    a, b = first.state_dict(), again.state_dict()
    assert list(a) == list(b) and len(a) > 0
    for name, p in a.items():
        assert np.array_equal(p.numpy(), b[name].numpy()), name
    with pytest.raises(ValueError, match="normal"):
        synthetic.cached_autoencoder(np.zeros(3), cache_dir=tmp_path)


@pytest.mark.parametrize("design", ["blob", "manifold"])
def test_synthetic_truth_matches_the_shift(design):
    table = synthetic.make_table(design, n_normal=300, n_anomalies=20, width=30, shifted=4, seed=3)
    assert table.truth.sum(axis=1).tolist() == [4] * 20
    assert table.normal.shape == (300, 30) and table.anomalies.dtype == np.float32
    raw = table.to_original(table.anomalies)
    assert np.array_equal(raw[:, table.integer], np.round(raw[:, table.integer]))
    with pytest.raises(ValueError, match="design"):
        synthetic.make_table("spiral")


def test_benchmark_case_for_the_comparison_runner(tmp_path):
    case = build_case("blob", n=8, cache_dir=tmp_path, baselines=False)
    assert isinstance(case, BenchmarkCase) and case.name == "tabular-blob" and case.k == 10
    assert list(case.explainers) == ["deepaid"]
    result = case.explainers["deepaid"](case.anomalies, 0)
    assert len(result) == len(case.anomalies) == len(case.truth)
    assert case.is_normal(result.references).mean() >= 0.9
