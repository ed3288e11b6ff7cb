"""A time-series view of one interpretation (optional extra ``plot``).

The core's ``Interpretation.table`` and ``deepaid_sdk.results.plotting.plot_interpretation`` show the
changed cells; this view shows each changed feature over the whole window, anomaly against
reference, so the context the predictor read is visible too.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Sequence

import numpy as np

from deepaid_sdk.results import Interpretation


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'deepaid-plugin-multits[plot]'") from None
    return Figure


def changed_features(interp: Interpretation) -> list[int]:
    """Features with at least one changed cell, most important first."""
    changed = np.asarray(interp.changed)
    cols = changed[:, -1] if changed.ndim == 2 else changed
    return list(dict.fromkeys(int(c) for c in cols))


def plot_window(
    interp: Interpretation,
    path: str | pathlib.Path,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    max_features: int = 4,
) -> pathlib.Path:
    """One panel per changed feature: its values over the window, anomaly vs reference (original units)."""
    if np.ndim(interp.anomaly) != 2:
        raise ValueError(f"interp: expected a window sample [W + 1, D]; got shape {np.shape(interp.anomaly)}")
    anomaly, reference = interp.anomaly.astype(np.float64), interp.reference.astype(np.float64)
    if inverse is not None:
        anomaly, reference = np.asarray(inverse(anomaly[None]))[0], np.asarray(inverse(reference[None]))[0]
    cols = changed_features(interp)[: max(1, int(max_features))] or [int(np.abs(anomaly[-1]).argmax())]
    steps = np.arange(anomaly.shape[0])
    fig = _figure()(figsize=(3.2 * len(cols), 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(cols)))
    for ax, d in zip(axes, cols):
        ax.plot(steps, anomaly[:, d], color="#c0392b", marker=".", label="anomaly")
        moved = reference[:, d] != anomaly[:, d]
        ax.plot(steps, reference[:, d], color="#2e86c1", linestyle="--", label="reference")
        ax.scatter(steps[moved], reference[moved, d], color="#2e86c1", zorder=3)
        ax.set_title(feature_names[d] if feature_names is not None else f"feature {d}", fontsize=9)
        ax.set_xlabel("step (last = actual vector)", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8)
    axes[0].set_ylabel("value (original units)" if inverse is not None else "value", fontsize=8)
    verdict = "normal" if interp.flipped else "still anomalous"
    fig.suptitle(f"score {interp.score:.3g} -> {interp.reference_score:.3g} ({verdict})", fontsize=9)
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
