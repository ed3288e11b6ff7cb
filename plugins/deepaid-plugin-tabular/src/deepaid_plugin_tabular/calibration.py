"""The tabular preset's defaults, calibrated from the detector's threshold and the normal rows: K, lambda,
the margin, the step size and budget, the per-feature units and the default box of references."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from deepaid_plugin_tabular.constraints import affine_of
from deepaid_sdk.checks import as_tensor, check_finite_number, check_positive_int

#: Largest default K: an explanation an analyst reads at a glance.
MAX_DEFAULT_K = 10
#: Data spread per threshold unit, assumed when no normal rows tell the scale (typical of the
#: synthetic and KitNET-like detectors we measured: the RMSE threshold is a fifth of the spread).
SPREAD_PER_THRESHOLD = 5.0
#: How far the default box reaches beyond the normal rows' range, as a share of each feature's range
#: (a feature that is never negative in normal rows also stays >= 0). See ``normal_box``.
NORMAL_BOX_MARGIN = 0.1


@attrs.frozen
class Calibration:
    """Default hyperparameters of the tabular preset and what they were derived from."""

    k: int
    """Features a reference may change: round(sqrt(D)) capped at 10."""
    lam: float
    """Stability weight: 0.1 / sqrt(D), below the pull of an RMSE score on one feature."""
    eps: float
    """Fidelity margin below the threshold: 2% of it."""
    lr: float
    """Search step, in input units: a tenth of the data's scale."""
    steps: int
    """Step budget per search phase."""
    scale: float
    """Typical spread of one feature (median std of normal rows, or 5 x threshold)."""
    scale_source: str
    """``normal`` or ``threshold``."""
    box: str = "none"
    """The default box of references: from the normal rows' range (widened by ``NORMAL_BOX_MARGIN``), or none."""


def normal_box(normal: Any, scaler: Any = None, margin: float = NORMAL_BOX_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """The default box of references, in model units: each feature's range over the normal rows,
    widened on each side by ``margin`` times that range.

    The range is taken in original units (through ``scaler``): a feature whose normal values are all
    >= 0 (a count, a ratio, a size) keeps its lower bound >= 0. A feature constant in the normal rows
    is widened by ``margin`` times its magnitude (or by ``margin``, at 0), so it can still move a little.
    """
    rows = as_tensor(normal, "normal").double().cpu().numpy()
    rows = rows.reshape(rows.shape[0], -1)
    original = rows if scaler is None else np.asarray(scaler.inverse_transform(rows), dtype=np.float64)
    lo, hi = original.min(axis=0), original.max(axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.maximum(np.abs(lo), 1.0))
    low, high = lo - margin * span, hi + margin * span
    low = np.where(lo >= 0, np.maximum(low, 0.0), low)
    if scaler is not None:
        origin, unit = affine_of(scaler, rows.shape[1])
        low, high = origin + unit * low, origin + unit * high
    return low, high


def data_scale(normal: Any) -> float:
    """Median per-feature standard deviation of normal rows (constant features ignored)."""
    x = as_tensor(normal, "normal").double().reshape(len(normal), -1)
    std = x.std(dim=0) if x.shape[0] > 1 else x.new_zeros(x.shape[1])
    std = std[std > 0]
    return float(std.median()) if std.numel() else 1.0


#: Features whose spreads on normal rows differ by more than this factor get per-feature units.
MIXED_UNITS_RATIO = 10.0


def feature_scale(normal: Any) -> np.ndarray | None:
    """Each feature's std on normal rows relative to the median, where units are mixed; else None.

    Passed to the search as its per-feature ``scale``: ``lr`` stays in the median feature's
    units, and every other feature steps (and ranks its residual) in its own. Where every
    spread is within ``MIXED_UNITS_RATIO`` of the others (scaled data) one unit serves all:
    measured on the correlated-manifold cases, per-feature units there only bias the support
    choice towards wide features (score-only m60: recall@4 0.86 with, 0.91 without).
    """
    x = as_tensor(normal, "normal").double().reshape(len(normal), -1)
    std = x.std(dim=0).cpu().numpy() if x.shape[0] > 1 else np.zeros(x.shape[1])
    positive = std[std > 0]
    if positive.size == 0 or positive.max() <= MIXED_UNITS_RATIO * positive.min():
        return None
    return np.where(std > 0, std, np.median(positive)) / np.median(positive)


#: Step budget per search phase. Most alerts need no descent (their residual start is normal); for
#: the rest, 60 steps gave the same recall and flip as 150 at 1.5-2x the speed (deepaid bench search:
#: D=100 throughput case and the score-only m60 case).
DEFAULT_STEPS = 60

#: How the tabular search steps on the support and when a row has stalled, for a detector that only scores
#: (no reconstruction: every alert descends): a row that does not overshoot grows its step by 1.3x per step
#: up to 8x ``lr``, and stops after 4 steps without a 0.2% gain. On the score-only m60 / m100 hard cases this
#: cut a row's steps from 33 / 12 to 11 / 6 on average, recall and flip the same and precision a little
#: higher (issue 21 item 3). A detector that reconstructs keeps the core's rule: there most alerts need no
#: descent, and on the rest the faster rule moved recall and stability a little both ways.
SCORE_ONLY_DESCENT = {"lr_growth": 1.3, "lr_max": 8.0, "patience": 4, "tolerance": 2e-3}


def calibrate(width: int, threshold: float, scale: float | None = None, steps: int = DEFAULT_STEPS) -> Calibration:
    """Defaults from the width ``D``, the threshold and (when known) the scale of normal data."""
    width = check_positive_int(width, "width")
    threshold = check_finite_number(threshold, "threshold")
    source = "normal"
    if scale is None or not scale > 0:
        scale, source = SPREAD_PER_THRESHOLD * abs(threshold) or 1.0, "threshold"
    return Calibration(
        k=min(MAX_DEFAULT_K, max(1, round(math.sqrt(width)))),
        lam=0.1 / math.sqrt(width),
        eps=0.02 * abs(threshold),
        lr=0.1 * float(scale),
        steps=steps,
        scale=float(scale),
        scale_source=source,
    )
