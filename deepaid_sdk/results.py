"""Results as data: one ``Interpretation`` per anomaly and an ``InterpretationBatch`` of them.

Arrays are numpy, detached from any autograd graph; ``to_dict()`` is JSON-safe.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import attrs
import numpy as np

from deepaid_sdk.views import format_table

_arrays = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))


def _json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def feature_label(index: Sequence[int] | int, feature_names: Sequence[str] | None, sample_shape: tuple[int, ...]) -> str:
    """``names[d]`` for a vector sample; ``t=<step> names[d]`` for a window; bare indices otherwise."""
    idx = (int(index),) if np.ndim(index) == 0 else tuple(int(i) for i in index)
    name = None
    if feature_names is not None:
        name = feature_names[idx[-1]]
    if len(idx) == 1:
        return name if name is not None else str(idx[0])
    prefix = ",".join(str(i) for i in idx[:-1])
    return f"t={prefix} {name}" if name is not None else f"({prefix},{idx[-1]})"


@attrs.frozen
class Interpretation:
    """Why one sample is an alert: the anomaly, its reference, and what differs."""

    anomaly: np.ndarray = _arrays
    """The input sample as given (shape of one sample)."""
    reference: np.ndarray = _arrays
    """The closest input found that the detector accepts, same shape."""
    changed: np.ndarray = _arrays
    """Indices of changed features, most important first: ``[n]`` for vectors, ``[n, ndim]`` otherwise."""
    anomaly_values: np.ndarray = _arrays
    """``anomaly`` at ``changed``."""
    reference_values: np.ndarray = _arrays
    """``reference`` at ``changed``."""
    score: float
    """Detector score of the anomaly."""
    reference_score: float
    """Detector score of the reference."""
    threshold: float
    """Alert threshold the scores are compared with."""
    flipped: bool
    """The detector judges the reference normal."""
    steps: int
    """Search steps this sample took."""
    seconds: float
    """Search time attributed to this sample (its share of the batch)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _json(getattr(self, f.name)) for f in attrs.fields(type(self))}

    def table(
        self,
        feature_names: Sequence[str] | None = None,
        inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> str:
        """The changed features, anomaly vs reference; in original units when ``inverse`` is given."""
        anomaly, reference = self.anomaly, self.reference
        if inverse is not None:
            anomaly = np.asarray(inverse(anomaly[None]))[0]
            reference = np.asarray(inverse(reference[None]))[0]
        width = self.anomaly.shape[-1] if self.anomaly.ndim else 1
        if feature_names is not None and len(feature_names) != width:
            raise ValueError(f"feature_names: expected {width} names; got {len(feature_names)}")
        rows = []
        for idx in self.changed:
            key = tuple(np.atleast_1d(idx))
            a, r = float(anomaly[key]), float(reference[key])
            rows.append([feature_label(idx, feature_names, self.anomaly.shape), a, r, r - a])
        verdict = "normal" if self.flipped else "STILL ANOMALOUS"
        title = (f"score {self.score:.6g} -> reference {self.reference_score:.6g} "
                 f"(threshold {self.threshold:.6g}, reference {verdict}); {len(rows)} changed")
        return format_table(["feature", "anomaly", "reference", "change"], rows, title=title)


@attrs.frozen
class InterpretationBatch:
    """Interpretations of a batch, stored as stacked arrays; iterating yields ``Interpretation``."""

    anomalies: np.ndarray = _arrays
    references: np.ndarray = _arrays
    changed: tuple[np.ndarray, ...] = attrs.field(eq=attrs.cmp_using(
        eq=lambda a, b: len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))))
    scores: np.ndarray = _arrays
    reference_scores: np.ndarray = _arrays
    flipped: np.ndarray = _arrays
    steps: np.ndarray = _arrays
    threshold: float
    seconds: float
    """Wall time of the whole batch."""
    method: str = ""
    """Name of the search that produced it."""
    params: dict[str, Any] = attrs.field(factory=dict)
    """Recorded search parameters, for reproducibility."""
    details: tuple[dict[str, Any], ...] = ()
    """Optional JSON-safe domain extras, one dict per sample (e.g. a graph path)."""

    def __attrs_post_init__(self) -> None:
        n = self.anomalies.shape[0]
        for name in ("references", "scores", "reference_scores", "flipped", "steps"):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"{name}: expected {n} rows; got {getattr(self, name).shape[0]}")
        if len(self.changed) != n:
            raise ValueError(f"changed: expected {n} rows; got {len(self.changed)}")
        if self.details and len(self.details) != n:
            raise ValueError(f"details: expected {n} rows; got {len(self.details)}")

    def __len__(self) -> int:
        return int(self.anomalies.shape[0])

    def __getitem__(self, i: int) -> Interpretation:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} interpretations")
        i = i % len(self)
        changed = self.changed[i]
        key = tuple(changed.T) if changed.ndim == 2 else (changed,)
        return Interpretation(
            anomaly=self.anomalies[i], reference=self.references[i], changed=changed,
            anomaly_values=self.anomalies[i][key], reference_values=self.references[i][key],
            score=float(self.scores[i]), reference_score=float(self.reference_scores[i]),
            threshold=self.threshold, flipped=bool(self.flipped[i]), steps=int(self.steps[i]),
            seconds=self.seconds / max(len(self), 1),
        )

    def __iter__(self) -> Iterator[Interpretation]:
        return (self[i] for i in range(len(self)))

    @property
    def flip_rate(self) -> float:
        return float(np.mean(self.flipped)) if len(self) else float("nan")

    @property
    def throughput(self) -> float:
        """Anomalies interpreted per second."""
        return len(self) / self.seconds if self.seconds > 0 else float("inf")

    def changed_mask(self) -> np.ndarray:
        """``[B, *sample_shape]`` bool: which features each reference changed."""
        mask = np.zeros(self.anomalies.shape, dtype=bool)
        for i, changed in enumerate(self.changed):
            key = tuple(changed.T) if changed.ndim == 2 else (changed,)
            mask[(i, *key)] = True
        return mask

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "params": _json(self.params), "threshold": self.threshold,
            "seconds": self.seconds, "flip_rate": self.flip_rate,
            "interpretations": [
                {**item.to_dict(), **({"details": _json(self.details[i])} if self.details else {})}
                for i, item in enumerate(self)
            ],
        }

    def table(self, feature_names: Sequence[str] | None = None,
              inverse: Callable[[np.ndarray], np.ndarray] | None = None) -> str:
        return "\n\n".join(f"#{i} " + item.table(feature_names, inverse) for i, item in enumerate(self))

    @classmethod
    def merge(cls, parts: Sequence[tuple[np.ndarray, "InterpretationBatch"]], total: int) -> "InterpretationBatch":
        """Reassemble sub-batches; each part comes with the original row indices it covers."""
        if not parts:
            raise ValueError("parts: nothing to merge")
        first = parts[0][1]
        rows: list[Any] = [None] * total
        for index, part in parts:
            for j, i in enumerate(index):
                rows[int(i)] = (part, j)
        if any(r is None for r in rows):
            raise ValueError("parts: some rows are not covered")

        def stack(name: str) -> np.ndarray:
            return np.stack([getattr(p, name)[j] for p, j in rows])

        return cls(
            anomalies=stack("anomalies"), references=stack("references"),
            changed=tuple(p.changed[j] for p, j in rows), scores=stack("scores"),
            reference_scores=stack("reference_scores"), flipped=stack("flipped"), steps=stack("steps"),
            threshold=first.threshold, seconds=sum(p.seconds for _, p in parts),
            method="+".join(dict.fromkeys(p.method for _, p in parts if p.method)),
            params=next((p.params for _, p in parts if p.params), {}),
            details=tuple(p.details[j] if p.details else {} for p, j in rows)
            if any(p.details for _, p in parts) else (),
        )
