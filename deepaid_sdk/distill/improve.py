"""Improving the detector from false positives: a retraining set, or an allow-list where it cannot be refit.

A false positive's reference is an input the detector accepts, and the analyst says the
anomaly is benign too, so the segment between them is benign traffic the detector has not
learnt. ``retraining_set`` returns points along those segments (the anomaly included) and,
given normal rows as ``contexts``, the false positive's changed features set on other normal
rows: the rule that suppresses it matches on those features alone, and the retraining teaches
the detector the same (leave ``contexts`` out where the benign pattern depends on the rest of
the row). Detectors that can be refit train on ``normal + rows``; ``AllowList`` keeps the
Distiller's false-positive rules as the per-rule allow-list for detectors that cannot.
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np

from deepaid_sdk.distill.distiller import Distiller, Predictions
from deepaid_sdk.results import InterpretationBatch


@attrs.frozen(eq=False)
class RetrainingSet:
    """Benign rows to add to a detector's training data, and the alert each row comes from."""

    rows: np.ndarray
    """``[M, *sample_shape]`` rows: points from each false positive's reference to the alert, then the
    false positives' changes on normal context rows (when contexts were given)."""
    source: np.ndarray
    """``[M]`` index of the alert (in the batch given) each row was made from."""
    alerts: int
    """How many false positives the rows come from."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: row count, false positives used, sample shape (the rows are in ``rows``)."""
        return {"rows": int(self.rows.shape[0]), "alerts": self.alerts, "shape": list(self.rows.shape[1:])}


def false_positive_mask(
    batch: InterpretationBatch,
    marks: Predictions | Sequence[str] | np.ndarray,
    verdicts: Sequence[str] = ("false_positive",),
) -> np.ndarray:
    """``[B]`` bool: the alerts marked false positive, by the Distiller's triage or by analyst labels."""
    n = len(batch)
    if isinstance(marks, Predictions):
        mask = np.asarray(marks.suppressed, dtype=bool)
    elif isinstance(marks, np.ndarray) and marks.dtype == bool:
        mask = marks
    elif isinstance(marks, Sequence) and not isinstance(marks, (str, bytes)):
        mask = np.array([m in verdicts for m in marks], dtype=bool)
    else:
        raise TypeError(
            f"marks: expected Predictions, verdicts (list of str) or a bool mask; got {type(marks).__name__}"
        )
    if mask.shape != (n,):
        raise ValueError(f"marks: expected one mark per alert ({n}); got shape {list(mask.shape)}")
    return mask


def retraining_set(
    batch: InterpretationBatch,
    marks: Predictions | Sequence[str] | np.ndarray,
    *,
    points: int = 4,
    contexts: np.ndarray | None = None,
    per_alert: int = 50,
    seed: int = 0,
    verdicts: Sequence[str] = ("false_positive",),
) -> RetrainingSet:
    """Rows for refitting: ``points`` evenly spaced points from each false positive's reference to it.

    ``marks``: the Distiller's ``Predictions`` for ``batch`` (suppressed alerts), analyst verdicts,
    or a bool mask. The last point of each segment is the alert itself. With ``contexts``
    (normal rows ``[N, *sample_shape]``), also ``per_alert`` rows per false positive: random
    context rows (``seed``) with the false positive's changed features set to its values.
    """
    if not isinstance(batch, InterpretationBatch):
        raise TypeError(f"batch: expected an InterpretationBatch (it holds the references); got {type(batch).__name__}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"points: expected a positive integer; got {points!r}")
    mask = false_positive_mask(batch, marks, verdicts)
    idx = np.flatnonzero(mask)
    anomalies, references = batch.anomalies[idx], batch.references[idx]
    t = (np.arange(1, points + 1) / points).reshape(1, points, *([1] * (anomalies.ndim - 1)))
    rows = references[:, None] + t * (anomalies - references)[:, None]
    rows = rows.reshape(-1, *anomalies.shape[1:])
    source = np.repeat(idx, points)
    if contexts is not None and idx.size:
        ctx = np.asarray(contexts)
        if ctx.ndim != anomalies.ndim or ctx.shape[1:] != anomalies.shape[1:] or ctx.shape[0] < 1:
            raise ValueError(
                f"contexts: expected normal rows [N, {', '.join(map(str, anomalies.shape[1:]))}]; "
                f"got shape {list(ctx.shape)}"
            )
        if isinstance(per_alert, bool) or not isinstance(per_alert, int) or per_alert < 1:
            raise ValueError(f"per_alert: expected a positive integer; got {per_alert!r}")
        pick = ctx[np.random.default_rng(seed).integers(0, ctx.shape[0], (idx.size, per_alert))]
        changed = batch.changed_mask()[idx][:, None]
        moved = np.where(changed, anomalies[:, None], pick).reshape(-1, *anomalies.shape[1:])
        rows = np.concatenate([rows, moved.astype(rows.dtype)])
        source = np.concatenate([source, np.repeat(idx, per_alert)])
    return RetrainingSet(rows.astype(batch.anomalies.dtype), source, int(idx.size))


@attrs.frozen
class AllowList:
    """For detectors that cannot be refit: the false-positive rules, applied after the detector."""

    distiller: Distiller
    """All rules: an alert is allowed only when a suppressing rule is its nearest rule."""

    @property
    def entries(self) -> tuple[int, ...]:
        """Indices of the allow-listing rules in ``distiller.rules``."""
        return tuple(i for i, r in enumerate(self.distiller.rules) if r.verdict in self.distiller.suppress)

    def allowed(self, interpretations: Any) -> np.ndarray:
        """``[B]`` bool: the alert matches an allow-list rule (keep it, marked suppressed)."""
        return self.distiller.triage(interpretations).suppressed

    def to_text(self) -> str:
        """The allow-listing rules, one readable line each, for an analyst to review."""
        rules = self.distiller.rules
        lines = [f"Allow-list: {len(self.entries)} rules (alerts matching them are suppressed, not deleted)"]
        lines += [f"  #{i} {rules[i].verdict} (x{rules[i].support}): {rules[i].text()}" for i in self.entries]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the allow-listing rules' indices and the whole rule set (``Distiller.to_dict``)."""
        return {"entries": list(self.entries), "rules": self.distiller.to_dict()}
