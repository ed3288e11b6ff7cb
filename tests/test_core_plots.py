"""The plots say what they show: alerts by id, the right units, per-feature colours, a bounded size."""

from __future__ import annotations

import struct

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from deepaid_sdk.results import InterpretationBatch  # noqa: E402
from deepaid_sdk.results.plotting import (  # noqa: E402 - after choosing the backend
    heatmap_figure,
    heatmap_grid,
    interpretation_figure,
    plot_heatmap,
    plot_interpretation,
)


def _batch(
    n: int = 6, d: int = 5, *, k: int = 2, seed: int = 0, scale: np.ndarray | None = None, names: bool = True
) -> InterpretationBatch:
    """``n`` alerts over ``d`` features; each reference changes ``k`` features (feature 0 in every alert)."""
    rng = np.random.default_rng(seed)
    scale = np.ones(d) if scale is None else scale
    anomalies = (rng.normal(size=(n, d)) * scale).astype(np.float32)
    references = anomalies.copy()
    changed = []
    for i in range(n):
        dims = np.concatenate([[0], rng.choice(np.arange(1, d), size=k - 1, replace=False)])
        references[i, dims] -= (rng.uniform(1.0, 2.0, size=k) * scale[dims]).astype(np.float32)
        changed.append(dims.astype(np.int64))
    return InterpretationBatch(
        anomalies=anomalies,
        references=references,
        changed=tuple(changed),
        scores=np.linspace(2.0, 1.0, n),
        reference_scores=np.full(n, 0.1),
        flipped=np.ones(n, bool),
        steps=np.zeros(n, np.int64),
        threshold=0.5,
        seconds=0.1,
        feature_names=[f"feature_{j}" for j in range(d)] if names else None,
    )


def _png_size(path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_heatmap_rows_are_labelled_with_the_alert_ids():
    batch = _batch(4)
    ids = ["alert-a", "alert-b", "alert-c", "alert-d"]
    ax = heatmap_figure(batch, ids=ids).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ids
    assert ax.get_ylabel() == "alert id"


def test_heatmap_with_more_alerts_than_rows_shows_the_top_scores_and_says_so():
    batch = _batch(8)
    grid = heatmap_grid(batch, ids=[f"id{i}" for i in range(8)], max_rows=3)
    assert grid.row_labels == ("id0", "id1", "id2")  # scores fall with the row number
    assert "3 highest-scoring of 8 alerts" in grid.title


@pytest.mark.parametrize("width", [5, 500])
def test_heatmap_size_is_bounded_and_labels_readable(tmp_path, width):
    batch = _batch(60, width, k=min(width, 10))
    path = plot_heatmap(batch, tmp_path / "map.png", ids=[f"alert-{i:04d}" for i in range(60)])
    w, h = _png_size(path)
    assert 400 <= w <= 1600 and 300 <= h <= 1200
    ax = heatmap_figure(batch).axes[0]
    sizes = [t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert sizes and min(sizes) >= 8
    assert len(ax.get_xticklabels()) <= 60  # features changed in no alert are not columns


def test_heatmap_column_labels_of_long_names_are_shortened():
    batch = _batch(3, 4)
    long = ["a_very_long_feature_name_that_goes_on_and_on_" + str(j) for j in range(4)]
    grid = heatmap_grid(batch, long)
    assert all(len(label) <= 28 for label in grid.column_labels)
    assert grid.column_labels[0].endswith("_0")


def test_heatmap_colours_are_scaled_per_feature():
    scale = np.array([1000.0, 1.0, 1.0, 1.0, 1.0])  # feature 0 is in other units, 1000x larger
    batch = _batch(20, 5, k=3, scale=scale)
    grid = heatmap_grid(batch)
    small = grid.values[:, grid.columns != 0]
    moved = small[small != 0]
    assert moved.size and np.abs(moved).min() > 0.05 * grid.limit  # not washed out by feature 0
    assert "standard deviations over the shown alerts" in grid.colour_label
    normal = np.random.default_rng(1).normal(size=(500, 5)) * scale
    by_normal = heatmap_grid(batch, normal=normal)
    assert "standard deviations of the normal data" in by_normal.colour_label
    # A change of 1..2 normal standard deviations, whatever the feature's unit.
    nonzero = np.abs(by_normal.values[by_normal.values != 0])
    np.testing.assert_allclose([nonzero.min(), nonzero.max()], [1.5, 1.5], atol=0.65)


def test_heatmap_raw_scaling_names_the_units():
    grid = heatmap_grid(_batch(3), scaling="none", units="original units")
    assert grid.colour_label == "reference - anomaly (original units)"
    np.testing.assert_allclose(grid.values, np.where(grid.values != 0, grid.change, 0.0))


def test_bar_chart_units_are_named_for_what_is_drawn():
    item = _batch(1, 5)[0]
    raw = interpretation_figure(item)
    assert raw.axes[0].get_ylabel() == "value"  # the model reads raw values: no unit is claimed
    scaled = interpretation_figure(item, scaled=True)
    assert scaled.axes[0].get_ylabel() == "value (model input units)"
    original = interpretation_figure(item, inverse=lambda x: 10.0 * x + 3.0)
    assert original.axes[0].get_ylabel() == "value (original units)"


def test_bar_chart_of_mixed_magnitudes_gives_each_feature_its_own_axis(tmp_path):
    item = _batch(1, 5, k=3, scale=np.array([10_000.0, 0.01, 1.0, 1.0, 1.0]))[0]
    fig = interpretation_figure(item)
    drawn = [ax for ax in fig.axes if ax.get_visible()]
    assert len(drawn) == 3 and [ax.get_title().split(". ")[1] for ax in drawn] == item.changed_names()
    w, h = _png_size(plot_interpretation(item, tmp_path / "bars.png"))
    assert w <= 1400 and h <= 1100


def test_heatmap_refuses_an_empty_batch():
    empty = _batch(3).__class__(
        anomalies=np.zeros((0, 5), np.float32),
        references=np.zeros((0, 5), np.float32),
        changed=(),
        scores=np.zeros(0),
        reference_scores=np.zeros(0),
        flipped=np.zeros(0, bool),
        steps=np.zeros(0, np.int64),
        threshold=0.5,
        seconds=0.0,
    )
    with pytest.raises(ValueError, match="batch: expected at least one interpretation"):
        heatmap_grid(empty)


def test_heatmap_refuses_ids_of_another_length():
    with pytest.raises(ValueError, match=r"ids: expected 3 alert ids, one per row of batch; got 2"):
        heatmap_grid(_batch(3), ids=["a", "b"])


def test_heatmap_refuses_normal_rows_of_another_width():
    with pytest.raises(ValueError, match=r"normal: expected at least 2 normal rows of shape \[5\].*\[10, 4\]"):
        heatmap_grid(_batch(3), normal=np.zeros((10, 4)))
