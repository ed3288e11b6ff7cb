"""Matplotlib views over results (optional extra ``plot``): anomaly vs reference, and a heat map."""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Sequence

import numpy as np

from deepaid_sdk.results import Interpretation, InterpretationBatch, feature_label


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'deepaid-sdk[plot]'") from None
    return plt


def _units(inverse: Callable[[np.ndarray], np.ndarray] | None) -> str:
    return "original units" if inverse is not None else "model units"


def _in_units(values: np.ndarray, inverse: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    return values if inverse is None else np.asarray(inverse(values[None]))[0]


def plot_interpretation(
    interp: Interpretation,
    path: str | pathlib.Path,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str | None = None,
    units: str | None = None,
) -> pathlib.Path:
    """Bar chart of the changed features: anomaly vs reference (original units with ``inverse``).

    The axes are labelled: features in rank order (how much undoing each change raises the score)
    and their values in ``units`` (default: ``original units`` with ``inverse``, else ``model units``).
    """
    plt = _pyplot()
    anomaly, reference = _in_units(interp.anomaly, inverse), _in_units(interp.reference, inverse)
    keys = [tuple(np.atleast_1d(i)) for i in interp.changed]
    labels = [feature_label(i, feature_names, interp.anomaly.shape) for i in interp.changed]
    a = [float(anomaly[k]) for k in keys]
    r = [float(reference[k]) for k in keys]
    pos = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(keys) + 2), 3.5))
    ax.bar(pos - 0.2, a, width=0.4, label="anomaly", color="#c0392b")
    ax.bar(pos + 0.2, r, width=0.4, label="reference", color="#2e86c1")
    ax.set_xticks(pos, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("changed feature (most important first)", fontsize=8)
    ax.set_ylabel(f"value ({units or _units(inverse)})", fontsize=8)
    verdict = "normal" if interp.flipped else "still anomalous"
    ax.set_title(title or f"score {interp.score:.3g} -> {interp.reference_score:.3g} ({verdict})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = pathlib.Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_heatmap(
    batch: InterpretationBatch,
    path: str | pathlib.Path,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    max_rows: int = 50,
    units: str | None = None,
) -> pathlib.Path:
    """Heat map of reference minus anomaly over anomalies x features (flattened), for the first rows;
    the colour bar is labelled in ``units`` (default: original units with ``inverse``, else model units)."""
    plt = _pyplot()
    n = min(len(batch), max_rows)
    anomalies, references = batch.anomalies[:n], batch.references[:n]
    if inverse is not None:
        anomalies, references = np.asarray(inverse(anomalies)), np.asarray(inverse(references))
    delta = (references - anomalies).reshape(n, -1).astype(np.float64)
    cols = np.flatnonzero(np.abs(delta).sum(axis=0) > 0)
    if cols.size == 0:
        cols = np.arange(min(delta.shape[1], 1))
    shape = batch.anomalies.shape[1:]
    labels = [feature_label(np.unravel_index(c, shape) if len(shape) > 1 else c, feature_names, shape) for c in cols]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.3 * len(cols) + 2), max(3.0, 0.2 * n + 1.5)))
    limit = float(np.abs(delta[:, cols]).max()) or 1.0
    image = ax.imshow(delta[:, cols], aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit)
    ax.set_xticks(np.arange(len(cols)), labels, rotation=90, fontsize=6)
    ax.set_xlabel("changed feature", fontsize=8)
    ax.set_ylabel("alert (row of the batch)", fontsize=8)
    ax.set_title("reference - anomaly (changed features)", fontsize=9)
    fig.colorbar(image, ax=ax).set_label(f"reference - anomaly ({units or _units(inverse)})", fontsize=8)
    fig.tight_layout()
    out = pathlib.Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
