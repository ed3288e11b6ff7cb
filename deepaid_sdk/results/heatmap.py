"""The heat map of a batch: which features each alert's reference changed, and by how much.

Built in two steps so each can be checked: ``heatmap_grid`` chooses the rows (alerts, named by
their ids), the columns (features changed in some shown alert) and the colour values (each
feature's change in its own scale, so a feature in bytes cannot wash out one in milliseconds);
``heatmap_figure`` draws the grid at a readable, bounded size. ``plot_heatmap`` writes it.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any, Callable, Sequence

import attrs
import numpy as np

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.optional import figure_class
from deepaid_sdk.results.data import InterpretationBatch
from deepaid_sdk.results.views import feature_label

#: Font size of every label: readable when the PNG is shown at 100%.
FONT_PT = 8.0
#: Largest figure, in inches at ``DPI``: the PNG stays within 1,600 x 1,200 pixels.
MAX_SIZE_IN = (16.0, 12.0)
DPI = 100
#: Space one tick label takes at ``FONT_PT`` (inches): more labels than fit are thinned.
TICK_IN = 0.16
#: Longer feature names or ids are shortened in the middle.
MAX_LABEL_CHARS = 28
#: Colour values beyond this quantile of the non-zero ones are clipped (the colour bar shows arrows),
#: so one extreme change does not wash out the rest.
CLIP_QUANTILE = 0.95
SCALINGS = ("auto", "normal", "alerts", "none")
#: Colour limits beyond this draw on a symmetric log scale (linear within ±1).
LOG_BEYOND = 10.0


@attrs.frozen(eq=False)
class HeatmapGrid:
    """What the heat map shows: the chosen alerts x features and their colour values."""

    values: np.ndarray
    """``[rows, cols]`` colour values: the change in the unit ``colour_label`` names."""
    change: np.ndarray
    """``[rows, cols]`` reference - anomaly in the data's own units (original units with ``inverse``)."""
    rows: np.ndarray
    """Row numbers in the batch of the shown alerts, in the order shown."""
    row_labels: tuple[str, ...]
    """The shown alerts' ids (or batch row numbers when no ids were given)."""
    row_title: str
    columns: np.ndarray
    """Flat feature indices of the shown columns."""
    column_labels: tuple[str, ...]
    title: str
    colour_label: str
    limit: float
    """Colour scale from ``-limit`` to ``limit``."""
    clipped: bool
    """Some values lie beyond ``limit``."""


def _shorten(text: str, width: int = MAX_LABEL_CHARS) -> str:
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _check_ids(ids: Any, n: int) -> list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"ids: expected a sequence of {n} alert ids, one per row of batch; got a {type(ids).__name__}")
    labels = [str(i) for i in np.asarray(ids, dtype=object).reshape(-1)]
    if len(labels) != n:
        raise ValueError(f"ids: expected {n} alert ids, one per row of batch; got {len(labels)}")
    return labels


def _rows(batch: InterpretationBatch, max_rows: int) -> tuple[np.ndarray, str]:
    """All rows in batch order, or the ``max_rows`` highest scores (highest first), and what was chosen."""
    n = len(batch)
    if n <= max_rows:
        return np.arange(n), f"all {n} alerts"
    top = np.argsort(-np.asarray(batch.scores, dtype=np.float64), kind="stable")[:max_rows]
    return top, f"the {max_rows} highest-scoring of {n} alerts, highest first"


def _columns(mask: np.ndarray, strength: np.ndarray, max_features: int) -> tuple[np.ndarray, str]:
    """Features changed in some shown alert; the ``max_features`` most often changed where more."""
    counts = mask.sum(axis=0)
    changed = np.flatnonzero(counts > 0)
    if changed.size == 0:
        return np.arange(min(mask.shape[1], 1)), "no feature changed"
    if changed.size <= max_features:
        return changed, f"the {changed.size} changed features"
    order = np.lexsort((-strength[changed], -counts[changed]))  # most often changed, then largest change
    return np.sort(changed[order[:max_features]]), (
        f"the {max_features} most often changed of {changed.size} changed features"
    )


def _normal_std(normal: Any, inverse: Callable[[np.ndarray], np.ndarray] | None, shape: tuple[int, ...]) -> np.ndarray:
    rows = np.asarray(normal, dtype=np.float64)
    if rows.ndim != len(shape) + 1 or tuple(rows.shape[1:]) != shape or rows.shape[0] < 2:
        raise ValueError(
            f"normal: expected at least 2 normal rows of shape {list(shape)} (as the batch's "
            f"samples); got an array of shape {list(rows.shape)}"
        )
    if inverse is not None:
        rows = np.asarray(inverse(rows), dtype=np.float64)
    return rows.reshape(rows.shape[0], -1).std(axis=0)


def _scale(
    scaling: str, normal_std: np.ndarray | None, anomalies: np.ndarray, references: np.ndarray, units: str | None
) -> tuple[np.ndarray, str]:
    """Per feature, the unit its change is measured in, and the colour bar's label."""
    pooled = np.concatenate([anomalies, references]).std(axis=0)  # spread over the shown alerts
    pooled = np.where(pooled > 0, pooled, 1.0)
    if scaling == "none":
        return np.ones(anomalies.shape[1]), "reference - anomaly" + (f" ({units})" if units else "")
    if normal_std is not None:
        known = normal_std > 0
        label = "reference - anomaly, in standard deviations of the normal data"
        if not known.all():
            label += "\n(* constant in the normal data: in its spread over the shown alerts)"
        return np.where(known, normal_std, pooled), label
    return pooled, "reference - anomaly, in standard deviations over the shown alerts"


def heatmap_grid(
    batch: InterpretationBatch,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    ids: Sequence[Any] | np.ndarray | None = None,
    normal: Any = None,
    max_rows: int = 50,
    max_features: int = 60,
    scaling: str = "auto",
    units: str | None = None,
) -> HeatmapGrid:
    """Choose what the heat map shows and compute its colour values; see ``plot_heatmap``."""
    if not isinstance(batch, InterpretationBatch):
        raise TypeError(f"batch: expected an InterpretationBatch; got {type(batch).__name__}")
    n = len(batch)
    if n == 0:
        raise ValueError("batch: expected at least one interpretation to draw; got an empty batch")
    labels = _check_ids(ids, n)
    max_rows = check_positive_int(max_rows, "max_rows")
    max_features = check_positive_int(max_features, "max_features")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling: expected one of {', '.join(SCALINGS)}; got {scaling!r}")
    if scaling == "normal" and normal is None:
        raise ValueError("scaling: 'normal' needs normal= rows (their standard deviation is the unit)")
    shape = tuple(batch.anomalies.shape[1:])
    names = batch.feature_names if feature_names is None else feature_names
    std = _normal_std(normal, inverse, shape) if normal is not None and scaling in ("auto", "normal") else None

    rows, row_note = _rows(batch, max_rows)
    anomalies, references = batch.anomalies[rows], batch.references[rows]
    if inverse is not None:
        anomalies, references = np.asarray(inverse(anomalies)), np.asarray(inverse(references))
    anomalies = anomalies.reshape(len(rows), -1).astype(np.float64)
    references = references.reshape(len(rows), -1).astype(np.float64)
    unit, colour_label = _scale(scaling, std, anomalies, references, units)
    change = references - anomalies
    mask = batch.changed_mask()[rows].reshape(len(rows), -1)
    values = np.where(mask, change / unit, 0.0)
    cols, col_note = _columns(mask, np.abs(values).max(axis=0), max_features)

    flat = [np.unravel_index(c, shape) if len(shape) > 1 else c for c in cols]
    col_labels = [_shorten(feature_label(c, names, shape)) for c in flat]
    if std is not None:
        col_labels = [lab + ("" if std[c] > 0 else " *") for lab, c in zip(col_labels, cols)]
    shown = values[:, cols]
    magnitude = np.abs(shown[shown != 0])
    limit = float(np.quantile(magnitude, CLIP_QUANTILE)) if magnitude.size else 1.0
    limit = limit if limit > 0 else 1.0
    return HeatmapGrid(
        values=shown,
        change=change[:, cols],
        rows=rows,
        row_labels=tuple(_shorten(labels[r] if labels else str(r)) for r in rows),
        row_title="alert id" if labels else "alert (row of the batch)",
        columns=cols,
        column_labels=tuple(col_labels),
        title=f"reference - anomaly: {row_note}; {col_note}",
        colour_label=colour_label,
        limit=limit,
        clipped=bool(magnitude.size and magnitude.max() > limit),
    )


def _ticks(count: int, room_in: float) -> np.ndarray:
    """Tick positions: every one where they fit at ``FONT_PT``, else every k-th."""
    step = max(1, math.ceil(count * TICK_IN / max(room_in, TICK_IN)))
    return np.arange(0, count, step)


def heatmap_figure(
    batch: InterpretationBatch,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    **options: Any,
) -> Any:
    """The heat map as a matplotlib ``Figure`` (not saved, no pyplot state); options as ``heatmap_grid``."""

    grid = heatmap_grid(batch, feature_names, inverse, **options)
    n_rows, n_cols = grid.values.shape
    longest = max(len(s) for s in grid.column_labels)
    bottom_in = 0.9 + 0.075 * longest  # rotated names, 8 pt: ~0.075 in per character
    width = min(MAX_SIZE_IN[0], max(5.0, TICK_IN * n_cols + 3.6))
    height = min(MAX_SIZE_IN[1], max(3.5, TICK_IN * n_rows + bottom_in + 1.0))
    fig = figure_class()(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    from matplotlib.colors import Normalize, SymLogNorm

    # Changes of a few and of a hundred standard deviations both stay visible: linear up to 1, log beyond.
    log = grid.limit > LOG_BEYOND
    norm = (
        SymLogNorm(linthresh=1.0, linscale=0.6, vmin=-grid.limit, vmax=grid.limit, base=10)
        if log
        else Normalize(vmin=-grid.limit, vmax=grid.limit)
    )
    image = ax.imshow(grid.values, aspect="auto", cmap="coolwarm", norm=norm, interpolation="nearest")
    xt = _ticks(n_cols, width - 3.6)
    yt = _ticks(n_rows, height - bottom_in - 1.0)
    ax.set_xticks(xt, [grid.column_labels[i] for i in xt], rotation=90, fontsize=FONT_PT)
    ax.set_yticks(yt, [grid.row_labels[i] for i in yt], fontsize=FONT_PT)
    ax.set_xlabel("changed feature", fontsize=FONT_PT)
    ax.set_ylabel(grid.row_title, fontsize=FONT_PT)
    ax.set_title(grid.title, fontsize=FONT_PT + 1, wrap=True)
    bar = fig.colorbar(
        image, ax=ax, extend="both" if grid.clipped else "neither", fraction=0.04, pad=0.02, extendfrac=0.03
    )
    bar.set_label(grid.colour_label + ("; log scale beyond ±1" if log else ""), fontsize=FONT_PT)
    bar.ax.tick_params(labelsize=FONT_PT)
    return fig


def plot_heatmap(
    batch: InterpretationBatch,
    path: str | os.PathLike[str],
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    max_rows: int = 50,
    units: str | None = None,
    *,
    ids: Sequence[Any] | np.ndarray | None = None,
    normal: Any = None,
    max_features: int = 60,
    scaling: str = "auto",
) -> pathlib.Path:
    """Heat map of reference minus anomaly, alerts (rows, named by ``ids``) x changed features.

    Rows: every alert, or the ``max_rows`` highest-scoring ones (the title says which). Columns:
    the features changed in some shown alert (the ``max_features`` most often changed, where more).
    Colours: each feature's change in its own scale (``scaling="auto"``): in standard deviations of
    the ``normal`` rows when given (model input rows, as the batch), else of the feature over the shown
    alerts; ``scaling="none"`` shows raw changes in ``units``. The colour bar names the unit.
    The figure stays within 1,600 x 1,200 pixels with 8-pt labels at any width.
    """
    fig = heatmap_figure(
        batch,
        feature_names,
        inverse,
        ids=ids,
        normal=normal,
        max_rows=max_rows,
        max_features=max_features,
        scaling=scaling,
        units=units,
    )
    out = pathlib.Path(path)
    fig.savefig(out, dpi=DPI)
    return out
