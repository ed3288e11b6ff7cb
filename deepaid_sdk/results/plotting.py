"""Matplotlib views over results (optional extra ``plot``): anomaly vs reference, and a heat map.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, safe in servers and
threads); every label is at least 8 pt and the units named are the ones drawn: ``original
units`` where an ``inverse`` was applied, ``model input units`` where the caller says the model
reads scaled values (``scaled=True``), and no unit where none is known.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any, Callable, Sequence

import numpy as np

from deepaid_sdk.optional import figure_class
from deepaid_sdk.results.data import Interpretation
from deepaid_sdk.results.heatmap import HeatmapGrid, heatmap_figure, heatmap_grid, plot_heatmap
from deepaid_sdk.results.views import feature_label

__all__ = [
    "HeatmapGrid",
    "heatmap_figure",
    "heatmap_grid",
    "interpretation_figure",
    "plot_heatmap",
    "plot_interpretation",
    "units_name",
]

FONT_PT = 8.0
DPI = 110
#: Changed features whose magnitudes differ by more than this factor get one panel each (own y axis),
#: so a feature in milliseconds stays visible next to one in bytes.
MIXED_SCALE_RATIO = 10.0
#: Panels per row of the per-feature layout.
PANELS_PER_ROW = 5


def units_name(
    inverse: Callable[[np.ndarray], np.ndarray] | None = None, units: str | None = None, scaled: bool = False
) -> str | None:
    """The unit the drawn values are in: ``units`` when given, ``original units`` after an ``inverse``,
    ``model input units`` when the model's input is scaled, else None (unknown: none is named)."""
    if units is not None:
        return units
    if inverse is not None:
        return "original units"
    return "model input units" if scaled else None


def _value_label(unit: str | None) -> str:
    return f"value ({unit})" if unit else "value"


def _in_units(values: np.ndarray, inverse: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    return values if inverse is None else np.asarray(inverse(values[None]))[0]


def _mixed(a: np.ndarray, r: np.ndarray) -> bool:
    """The features' magnitudes differ so much that one shared axis would hide the small ones."""
    size = np.maximum(np.abs(a), np.abs(r))
    size = size[size > 0]
    return bool(size.size > 1 and size.max() > MIXED_SCALE_RATIO * size.min())


def _shared_axis(fig: Any, labels: list[str], a: np.ndarray, r: np.ndarray, unit: str | None) -> None:
    ax = fig.add_subplot()
    pos = np.arange(len(labels))
    ax.bar(pos - 0.2, a, width=0.4, label="anomaly", color="#c0392b")
    ax.bar(pos + 0.2, r, width=0.4, label="reference", color="#2e86c1")
    ax.set_xticks(pos, labels, rotation=45, ha="right", fontsize=FONT_PT)
    ax.tick_params(axis="y", labelsize=FONT_PT)
    ax.set_xlabel("changed feature (most important first)", fontsize=FONT_PT)
    ax.set_ylabel(_value_label(unit), fontsize=FONT_PT)
    ax.legend(fontsize=FONT_PT)


def _panels(fig: Any, labels: list[str], a: np.ndarray, r: np.ndarray, unit: str | None) -> None:
    """One small panel per feature, each with its own y axis, in rank order."""
    cols = min(PANELS_PER_ROW, len(labels))
    axes = np.atleast_1d(fig.subplots(math.ceil(len(labels) / cols), cols)).reshape(-1)
    for i, ax in enumerate(axes):
        if i >= len(labels):
            ax.set_visible(False)
            continue
        ax.bar([0, 1], [a[i], r[i]], color=["#c0392b", "#2e86c1"], width=0.7)
        ax.set_xticks([0, 1], ["anomaly", "reference"], fontsize=FONT_PT)
        ax.tick_params(axis="y", labelsize=FONT_PT)
        ax.set_title(f"{i + 1}. {labels[i]}", fontsize=FONT_PT)
        if i % cols == 0:
            ax.set_ylabel(_value_label(unit), fontsize=FONT_PT)


def interpretation_figure(
    interp: Interpretation,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str | None = None,
    units: str | None = None,
    *,
    scaled: bool = False,
    max_features: int = 20,
) -> Any:
    """The bar chart of ``plot_interpretation`` as a ``Figure`` (not saved)."""
    if not isinstance(interp, Interpretation):
        raise TypeError(f"interp: expected an Interpretation; got {type(interp).__name__}")
    anomaly, reference = _in_units(interp.anomaly, inverse), _in_units(interp.reference, inverse)
    names = interp.feature_names if feature_names is None else feature_names
    changed = list(interp.changed)
    shown = changed[: max(1, int(max_features))]
    keys = [tuple(np.atleast_1d(i)) for i in shown]
    labels = [feature_label(i, names, interp.anomaly.shape) for i in shown]
    a = np.array([float(anomaly[k]) for k in keys])
    r = np.array([float(reference[k]) for k in keys])
    unit = units_name(inverse, units, scaled)
    panels = _mixed(a, r)
    if panels:
        cols = min(PANELS_PER_ROW, max(len(keys), 1))
        size = (min(12.0, 2.1 * cols + 0.9), min(10.0, 2.3 * math.ceil(max(len(keys), 1) / cols) + 0.9))
    else:
        size = (min(14.0, max(4.0, 0.6 * len(keys) + 2)), 3.5)
    fig = figure_class()(figsize=size, dpi=DPI, layout="constrained")
    if not keys:
        fig.add_subplot().text(0.5, 0.5, "no feature changed", ha="center", fontsize=FONT_PT + 1)
    elif panels:
        _panels(fig, labels, a, r, unit)
    else:
        _shared_axis(fig, labels, a, r, unit)
    verdict = "normal" if interp.flipped else "still anomalous"
    more = f"; {len(shown)} of {len(changed)} changed features shown" if len(shown) < len(changed) else ""
    fig.suptitle(
        title or f"score {interp.score:.3g} -> {interp.reference_score:.3g} ({verdict}){more}", fontsize=FONT_PT + 1
    )
    return fig


def plot_interpretation(
    interp: Interpretation,
    path: str | os.PathLike[str],
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str | None = None,
    units: str | None = None,
    *,
    scaled: bool = False,
    max_features: int = 20,
) -> pathlib.Path:
    """Bar chart of the changed features, anomaly vs reference, most important first.

    Values are in original units with ``inverse``; without it, say ``scaled=True`` when the model
    reads scaled values (they are then labelled ``model input units``); otherwise no unit is named
    (``units`` names one explicitly). Features of very different magnitudes get one panel each.
    """
    fig = interpretation_figure(interp, feature_names, inverse, title, units, scaled=scaled, max_features=max_features)
    out = pathlib.Path(path)
    fig.savefig(out, dpi=DPI)
    return out
