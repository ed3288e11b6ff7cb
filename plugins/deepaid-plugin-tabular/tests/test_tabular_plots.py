"""The tabular preset draws what it prints: original units through the scaler, alerts by id."""

from __future__ import annotations

import matplotlib
import numpy as np
import torch

import deepaid_sdk
import deepaid_sdk.results.plotting as plotting
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.scaling import MinMaxScaler

matplotlib.use("Agg")


def _interp(scaler):
    torch.manual_seed(0)
    return deepaid_sdk.create(
        "tabular", model=torch.nn.Linear(3, 3), threshold=0.1, scaler=scaler, features=["bytes", "ms", "packets"]
    )


def _batch() -> InterpretationBatch:
    anomalies = np.array([[0.9, 0.2, 0.5], [0.1, 0.8, 0.4]], dtype=np.float32)
    references = anomalies.copy()
    references[:, 0] = 0.5
    return InterpretationBatch(
        anomalies=anomalies,
        references=references,
        changed=(np.array([0]), np.array([0])),
        scores=np.array([1.0, 0.8]),
        reference_scores=np.array([0.05, 0.05]),
        flipped=np.ones(2, bool),
        steps=np.zeros(2, np.int64),
        threshold=0.1,
        seconds=0.01,
        feature_names=["bytes", "ms", "packets"],
    )


def test_plot_is_in_original_units_like_the_table(tmp_path):
    raw = np.array([[0.0, 0.0, 0.0], [50_000.0, 2.0, 300.0]])
    interp = _interp(MinMaxScaler().fit(raw))
    item = _batch()[0]
    interp.plot(item, tmp_path / "a.png")
    fig = plotting.interpretation_figure(item, interp.feature_names, interp.inverse)
    assert fig.axes[0].get_ylabel() == "value (original units)"
    drawn = max(abs(p.get_height()) for ax in fig.axes for p in ax.patches)
    assert drawn > 1000  # bytes in bytes (0.9 of 50,000), not the scaled 0.9


def test_plot_units_follow_the_scaler(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(plotting, "plot_interpretation", lambda *a, **kw: calls.append((a, kw)))
    scaled = _interp(MinMaxScaler().fit(np.array([[0.0, 0.0, 0.0], [10.0, 2.0, 3.0]])))
    scaled.plot(_batch()[0], tmp_path / "a.png")
    scaled.plot(_batch()[0], tmp_path / "b.png", original=False)
    _interp(None).plot(_batch()[0], tmp_path / "c.png")
    (_, original_kw), (_, model_kw), (_, raw_kw) = calls
    assert calls[0][0][3] is not None  # the scaler's inverse
    assert model_kw == {"scaled": True} and len(calls[1][0]) == 3
    assert raw_kw == {} and len(calls[2][0]) == 3  # raw model input: no unit is claimed


def test_heatmap_takes_alert_ids_and_normal_rows(tmp_path):
    interp = _interp(MinMaxScaler().fit(np.array([[0.0, 0.0, 0.0], [10.0, 2.0, 3.0]])))
    normal = np.random.default_rng(0).uniform(size=(50, 3)).astype(np.float32)
    path = interp.heatmap(_batch(), tmp_path / "map.png", ids=["row-17", "row-40"], normal=normal)
    assert path.stat().st_size > 3000
    grid = plotting.heatmap_grid(
        _batch(), interp.feature_names, interp.inverse, ids=["row-17", "row-40"], normal=normal
    )
    assert grid.row_labels == ("row-17", "row-40") and "normal data" in grid.colour_label
