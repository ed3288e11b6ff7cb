"""Metrics of explanations: fidelity, ground truth, stability, robustness, conciseness, speed.

Plugins and benchmarks use these rather than private copies. Changed sets are given as bool
masks ``[N, *sample_shape]`` (``InterpretationBatch.changed_mask()``) or as an
``InterpretationBatch`` directly.

Every rate is over **alerts only**: a row of an ``InterpretationBatch`` is an alert when its score
is above the threshold (``scores > threshold``). A row the detector already accepted comes back
unchanged and "flipped"; counting it would inflate the flip rate and deflate conciseness. Plain
masks and verdicts carry no scores: pass ``alerts=`` to restrict them, or they all count.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from deepaid_sdk.results import InterpretationBatch


def alert_rows(batch: InterpretationBatch) -> np.ndarray:
    """``[N]`` bool: the rows that were alerts (score above the threshold)."""
    return np.asarray(batch.scores) > batch.threshold


def _alerts_of(value: Any, alerts: Sequence[bool] | np.ndarray | None, n: int, name: str) -> np.ndarray:
    """Which rows count: ``alerts`` if given, else an InterpretationBatch's alerts, else all; never none."""
    if alerts is not None:
        keep = np.asarray(alerts, dtype=bool).reshape(-1)
        if keep.shape[0] != n:
            raise ValueError(f"alerts: expected {n} flags, one per row of {name}; got {keep.shape[0]}")
    elif isinstance(value, InterpretationBatch):
        keep = alert_rows(value)
    else:
        keep = np.ones(n, dtype=bool)
    if not keep.any():
        raise ValueError(f"{name}: none of its {n} rows is an alert (score above the threshold); nothing to rate")
    return keep


def _mask(value: InterpretationBatch | np.ndarray, name: str) -> np.ndarray:
    mask = value.changed_mask() if isinstance(value, InterpretationBatch) else np.asarray(value)
    if mask.dtype != bool:
        raise TypeError(f"{name}: expected a bool mask or an InterpretationBatch; got dtype {mask.dtype}")
    if mask.ndim < 2 or mask.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty mask [N, ...]; got shape {mask.shape}")
    return mask.reshape(mask.shape[0], -1)


def label_flip_rate(
    batch: InterpretationBatch | Sequence[bool], *, alerts: Sequence[bool] | np.ndarray | None = None
) -> float:
    """Share of the alerts' references the detector judges normal (fidelity)."""
    flipped = batch.flipped if isinstance(batch, InterpretationBatch) else np.asarray(batch, dtype=bool)
    if flipped.size == 0:
        raise ValueError("batch: no interpretations to rate")
    return float(np.mean(flipped[_alerts_of(batch, alerts, flipped.shape[0], "batch")]))


def precision_recall_at_k(
    changed: InterpretationBatch | np.ndarray,
    truth: np.ndarray,
    k: int | None = None,
    *,
    alerts: Sequence[bool] | np.ndarray | None = None,
) -> tuple[float, float]:
    """Mean precision and recall of the changed features against planted ground truth, over alerts.

    With ``k``, only the first ``k`` changed features of each row count (an ``InterpretationBatch``
    keeps them ordered by importance); recall is over ``min(k, |truth|)`` so a perfect top-k scores 1.
    """
    truth_m = _mask(np.asarray(truth, dtype=bool), "truth")
    if isinstance(changed, InterpretationBatch) and k is not None:
        shape = changed.anomalies.shape[1:]
        mask: np.ndarray = np.zeros(truth_m.shape, dtype=bool)
        for i, idx in enumerate(changed.changed):
            flat = idx if idx.ndim == 1 else np.ravel_multi_index(tuple(idx.T), shape)
            mask[i, flat[:k]] = True
    else:
        mask = _mask(changed, "changed")
    if mask.shape != truth_m.shape:
        raise ValueError(f"truth: shape {truth_m.shape} differs from the changed masks' {mask.shape}")
    keep = _alerts_of(changed, alerts, mask.shape[0], "changed")
    mask, truth_m = mask[keep], truth_m[keep]
    hits = (mask & truth_m).sum(axis=1)
    denom_p = np.maximum(mask.sum(axis=1), 1)
    n_truth = truth_m.sum(axis=1)
    denom_r = np.maximum(np.minimum(n_truth, k) if k is not None else n_truth, 1)
    return float(np.mean(hits / denom_p)), float(np.mean(np.minimum(hits / denom_r, 1.0)))


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Jaccard similarity of two bool masks; two empty sets count as identical (1)."""
    a, b = _mask(np.asarray(a, dtype=bool), "a"), _mask(np.asarray(b, dtype=bool), "b")
    if a.shape != b.shape:
        raise ValueError(f"a/b: shapes differ, {a.shape} vs {b.shape}")
    inter, union = (a & b).sum(axis=1), (a | b).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def stability(
    masks: Sequence[InterpretationBatch | np.ndarray], *, alerts: Sequence[bool] | np.ndarray | None = None
) -> float:
    """Mean pairwise Jaccard of the changed sets of repeated runs (e.g. different seeds), over the alerts
    of the first run (the runs explain the same inputs)."""
    ms = [_mask(m, f"masks[{i}]") for i, m in enumerate(masks)]
    if len(ms) < 2:
        raise ValueError(f"masks: need at least 2 runs to compare; got {len(ms)}")
    keep = _alerts_of(masks[0], alerts, ms[0].shape[0], "masks[0]")
    ms = [m[keep] if m.shape[0] == keep.shape[0] else m for m in ms]
    pairs = [jaccard(ms[i], ms[j]).mean() for i in range(len(ms)) for j in range(i + 1, len(ms))]
    return float(np.mean(pairs))


def robustness(
    explain: Callable[[np.ndarray], InterpretationBatch | np.ndarray],
    anomalies: np.ndarray,
    *,
    noise: float = 0.01,
    seed: int = 0,
    scale: np.ndarray | float | None = None,
) -> float:
    """Mean Jaccard between the explanation of x and of x plus Gaussian noise.

    The noise std is ``noise`` times ``scale`` (default: each feature's std over ``anomalies``,
    or 1 where that is 0). When ``explain`` returns an ``InterpretationBatch``, only the rows that are
    alerts in the explanation of x count.
    """
    x = np.asarray(anomalies, dtype=np.float64)
    if scale is None:
        scale = x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
    rng = np.random.default_rng(seed)
    noisy = x + noise * scale * rng.standard_normal(x.shape)
    clean = explain(x)
    similarity = jaccard(_mask(clean, "explain(x)"), _mask(explain(noisy), "explain(noisy)"))
    keep = _alerts_of(clean, None, similarity.shape[0], "explain(x)")
    return float(similarity[keep].mean())


def conciseness(
    changed: InterpretationBatch | np.ndarray, *, alerts: Sequence[bool] | np.ndarray | None = None
) -> float:
    """Mean number of changed features per explanation of an alert."""
    mask = _mask(changed, "changed")
    return float(mask[_alerts_of(changed, alerts, mask.shape[0], "changed")].sum(axis=1).mean())


def throughput(fn: Callable[[], Any], n: int, *, repeat: int = 1) -> tuple[float, Any]:
    """Items per second of ``fn`` over ``n`` items (best of ``repeat`` runs), and its last result."""
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return (n / best if best > 0 else float("inf")), result
