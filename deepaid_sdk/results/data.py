"""Results as data: one ``Interpretation`` per anomaly and an ``InterpretationBatch`` of them.

Arrays are numpy, detached from any autograd graph; ``to_dict()`` is strict JSON (no NaN or
infinity: a non-finite value is a ValueError naming the row and the field). Feature names travel
with the results when the input had them (DataFrame or Arrow columns).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

import attrs
import numpy as np

from deepaid_sdk.records import array_field
from deepaid_sdk.results.views import change_table, feature_label


def _json(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types; a non-finite float is a ValueError naming ``where``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = np.argwhere(~np.isfinite(value))[0].tolist()
            raise ValueError(f"{where}: non-finite value {value[tuple(bad)]} at {bad} cannot be written as JSON")
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: non-finite value {value} cannot be written as JSON")
    if isinstance(value, dict):
        return {str(k): _json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v, where) for v in value]
    return value


def json_value(value: Any, where: str = "value") -> Any:
    """``value`` (arrays, numpy scalars, dicts, lists) as strict JSON types; non-finite floats are errors."""
    return _json(value, where)


def _names(value: Any) -> tuple[str, ...] | None:
    """Feature names as a tuple of strings (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"feature_names: expected a sequence of names; got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _groups(value: Any) -> tuple[str, ...] | None:
    """Group names, one per flattened feature (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"feature_groups: expected one group name per feature; got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _check_groups(groups: tuple[str, ...] | None, sample_shape: tuple[int, ...]) -> None:
    width = int(np.prod(sample_shape)) if sample_shape else 1
    if groups is not None and len(groups) != width:
        raise ValueError(f"feature_groups: expected {width} group names (one per feature); got {len(groups)}")


def _needs(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    pair = tuple(int(v) for v in np.asarray(value).reshape(-1))
    if len(pair) != 2:
        raise ValueError(f"needs: expected (features, groups); got {value!r}")
    return None if pair[0] < 0 else (pair[0], pair[1])


def _needs_rows(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.int64).reshape(-1, 2)


def _check_names(names: tuple[str, ...] | None, sample_shape: tuple[int, ...]) -> None:
    width = sample_shape[-1] if sample_shape else 1
    if names is not None and len(names) != width:
        raise ValueError(f"feature_names: expected {width} names (the last axis of a sample); got {len(names)}")


def _summary(n: int, flipped: float, threshold: float, names: tuple[str, ...] | None, shape: tuple[int, ...]) -> str:
    features = f", features {list(names[:4])}{'...' if len(names) > 4 else ''}" if names else ""
    return (
        f"{n} rows, sample shape {list(shape)}, threshold {threshold:.6g}, flip rate over alerts {flipped:.3f}"
        f"{features}"
    )


@attrs.frozen
class Interpretation:
    """Why one sample is an alert: the anomaly, its reference, and what differs."""

    anomaly: np.ndarray = array_field()
    """The input sample as given (shape of one sample)."""
    reference: np.ndarray = array_field()
    """The closest input found that the detector accepts, same shape."""
    changed: np.ndarray = array_field()
    """Indices of changed features, most important first: ``[n]`` for vectors, ``[n, ndim]`` otherwise."""
    anomaly_values: np.ndarray = array_field()
    """``anomaly`` at ``changed``."""
    reference_values: np.ndarray = array_field()
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
    feature_names: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    """Names of the last axis of a sample (columns of the input), when known."""
    feature_groups: tuple[str, ...] | None = attrs.field(default=None, converter=_groups)
    """Group name of each flattened feature, where the adapter declares groups (``deepaid_sdk.groups``)."""
    needs: tuple[int, int] | None = attrs.field(default=None, converter=_needs)
    """Where the budget left the reference anomalous: the ``(features, groups)`` that reach normal."""

    def __attrs_post_init__(self) -> None:
        _check_names(self.feature_names, self.anomaly.shape)
        _check_groups(self.feature_groups, self.anomaly.shape)

    def changed_groups(self) -> list[str]:
        """The groups of the changed features, each once, most important first (empty without groups)."""
        if self.feature_groups is None:
            return []
        flat = _flat_index(self.changed, tuple(self.anomaly.shape))
        return list(dict.fromkeys(self.feature_groups[int(i)] for i in flat))

    @property
    def needs_text(self) -> str | None:
        """``needs 21 features in 5 groups`` where the budget left the reference anomalous, else None."""
        if self.needs is None:
            return None
        from deepaid_sdk.groups import needs_text

        return needs_text(self.needs[0], self.needs[1] if self.feature_groups is not None else None)

    @property
    def alert(self) -> bool:
        """The detector flagged the sample (score above the threshold)."""
        return bool(self.score > self.threshold)

    def changed_names(self) -> list[str]:
        """The changed features as labels (feature names where known), most important first."""
        return [feature_label(idx, self.feature_names, self.anomaly.shape) for idx in self.changed]

    def __repr__(self) -> str:
        verdict = "flipped" if self.flipped else "not flipped"
        return (
            f"Interpretation(score {self.score:.6g} -> {self.reference_score:.6g}, threshold "
            f"{self.threshold:.6g}, {verdict}, changed {self.changed_names()[:6]}, steps {self.steps})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field and ``alert`` as strict JSON types (a non-finite value is a ValueError naming its field)."""
        out = {f.name: _json(getattr(self, f.name), f.name) for f in attrs.fields(type(self))}
        out["alert"] = self.alert
        out["changed_groups"] = self.changed_groups() if self.feature_groups is not None else None
        out["needs_text"] = self.needs_text
        return out

    def table(
        self,
        feature_names: Sequence[str] | None = None,
        inverse: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        categorical: bool = False,
    ) -> str:
        """The changed features, anomaly vs reference (see ``deepaid_sdk.results.views.change_table``)."""
        width = self.anomaly.shape[-1] if self.anomaly.ndim else 1
        if feature_names is not None and len(feature_names) != width:
            raise ValueError(f"feature_names: expected {width} names; got {len(feature_names)}")
        return change_table(
            self, self.feature_names if feature_names is None else feature_names, inverse, categorical=categorical
        )


@attrs.frozen
class InterpretationBatch:
    """Interpretations of a batch, stored as stacked arrays; iterating yields ``Interpretation``."""

    anomalies: np.ndarray = array_field()
    references: np.ndarray = array_field()
    changed: tuple[np.ndarray, ...] = attrs.field(
        eq=attrs.cmp_using(eq=lambda a, b: len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)))
    )
    scores: np.ndarray = array_field()
    reference_scores: np.ndarray = array_field()
    flipped: np.ndarray = array_field()
    steps: np.ndarray = array_field()
    threshold: float
    seconds: float
    """Wall time of the whole batch."""
    method: str = ""
    """Name of the search that produced it."""
    params: dict[str, Any] = attrs.field(factory=dict)
    """Recorded search parameters, for reproducibility."""
    details: tuple[dict[str, Any], ...] = ()
    """Optional JSON-safe domain extras, one dict per sample (e.g. a graph path)."""
    feature_names: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    """Names of the last axis of a sample (columns of the input), when known."""
    index: Any = attrs.field(default=None, eq=False, repr=False)
    """The input's row labels (a DataFrame's index: the user's alert ids), one per row; ``to_pandas`` keeps it."""
    feature_groups: tuple[str, ...] | None = attrs.field(default=None, converter=_groups)
    """Group name of each flattened feature, where the adapter declares groups (``deepaid_sdk.groups``)."""
    needs: np.ndarray | None = attrs.field(
        default=None, converter=_needs_rows, eq=attrs.cmp_using(eq=lambda a, b: np.array_equal(a, b))
    )
    """``[B, 2]`` ``(features, groups)`` that reach normal where the budget did not; -1 elsewhere (or None)."""

    def __attrs_post_init__(self) -> None:
        _check_names(self.feature_names, self.anomalies.shape[1:])
        _check_groups(self.feature_groups, self.anomalies.shape[1:])
        if self.needs is not None and self.needs.shape[0] != self.anomalies.shape[0]:
            raise ValueError(f"needs: expected {self.anomalies.shape[0]} rows; got {self.needs.shape[0]}")
        n = self.anomalies.shape[0]
        if self.index is not None and len(self.index) != n:
            raise ValueError(f"index: expected {n} row labels; got {len(self.index)}")
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
            anomaly=self.anomalies[i],
            reference=self.references[i],
            changed=changed,
            anomaly_values=self.anomalies[i][key],
            reference_values=self.references[i][key],
            score=float(self.scores[i]),
            reference_score=float(self.reference_scores[i]),
            threshold=self.threshold,
            flipped=bool(self.flipped[i]),
            steps=int(self.steps[i]),
            seconds=self.seconds / max(len(self), 1),
            feature_names=self.feature_names,
            feature_groups=self.feature_groups,
            needs=None if self.needs is None else self.needs[i],
        )

    def __repr__(self) -> str:
        return (
            f"InterpretationBatch({self.method or 'unknown search'}: "
            + _summary(len(self), self.flip_rate, self.threshold, self.feature_names, tuple(self.anomalies.shape[1:]))
            + ")"
        )

    @property
    def alerts(self) -> np.ndarray:
        """``[B]`` bool: the detector flagged the row (score above the threshold)."""
        return np.asarray(self.scores) > self.threshold

    def changed_names(self) -> list[list[str]]:
        """Per row, the changed features as labels (feature names where known), most important first."""
        shape = tuple(self.anomalies.shape[1:])
        return [[feature_label(idx, self.feature_names, shape) for idx in changed] for changed in self.changed]

    def records(self, *, full: bool = False) -> dict[str, list[Any]]:
        """Column-wise output records (no ids): what ``to_pandas``/``to_arrow`` and the explain job write.

        ``full`` adds the whole reference of each row (flattened). Where the adapter declares feature
        groups, ``changed_groups`` lists each row's groups; where a budget applied, ``needs`` says the size
        that reaches normal for the rows it left anomalous (``needs 21 features in 5 groups``; None elsewhere).
        """
        n = len(self)
        flat_a = self.anomalies.reshape(n, -1)
        flat_r = self.references.reshape(n, -1)
        values_a, values_r = [], []
        for i, changed in enumerate(self.changed):
            flat = _flat_index(changed, tuple(self.anomalies.shape[1:]))
            values_a.append(flat_a[i, flat].astype(np.float64))
            values_r.append(flat_r[i, flat].astype(np.float64))
        out: dict[str, list[Any]] = {
            "score": np.asarray(self.scores, dtype=np.float64).tolist(),
            "reference_score": np.asarray(self.reference_scores, dtype=np.float64).tolist(),
            "threshold": [float(self.threshold)] * n,
            "alert": self.alerts.tolist(),
            "flipped": np.asarray(self.flipped, dtype=bool).tolist(),
            "changed": self.changed_names(),
            "anomaly_values": [v.tolist() for v in values_a],
            "reference_values": [v.tolist() for v in values_r],
            "steps": np.asarray(self.steps, dtype=np.int64).tolist(),
        }
        if self.feature_groups is not None:
            out["changed_groups"] = [item.changed_groups() for item in self]
        if self.needs is not None:
            out["needs"] = [item.needs_text for item in self]
        if full:
            out["reference"] = flat_r.astype(np.float64).tolist()
        return out

    def to_pandas(self, *, full: bool = False) -> Any:
        """One row per interpretation (the columns of ``records``), indexed like the input DataFrame
        (``index``) when there was one; needs pandas (extra ``files``)."""
        from deepaid_sdk.optional import require

        pandas = require("pandas", "files")
        return pandas.DataFrame(self.records(full=full), index=self.index)

    def to_arrow(self, *, full: bool = False) -> Any:
        """A ``pyarrow.Table`` of ``records`` (lists as list columns); needs pyarrow (extra ``files``)."""
        from deepaid_sdk.optional import require

        pa = require("pyarrow", "files")
        return pa.table(self.records(full=full))

    def __iter__(self) -> Iterator[Interpretation]:
        return (self[i] for i in range(len(self)))

    @property
    def flip_rate(self) -> float:
        """Share of the alerts (rows scored above the threshold) whose reference the detector judges normal.

        Rows the detector never flagged are their own reference and would count as flipped: they are left out.
        NaN when no row is an alert (``to_dict`` writes None).
        """
        alerts = self.alerts
        return float(np.mean(np.asarray(self.flipped, dtype=bool)[alerts])) if alerts.any() else float("nan")

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
        """Strict JSON types; a non-finite value is a ValueError naming the row and the field."""
        items = []
        for i, item in enumerate(self):
            try:
                items.append(
                    {**item.to_dict(), **({"details": _json(self.details[i], "details")} if self.details else {})}
                )
            except ValueError as exc:
                raise ValueError(f"row {i}: {exc}") from None
        return {
            "method": self.method,
            "params": _json(self.params, "params"),
            "threshold": _json(self.threshold, "threshold"),
            "seconds": self.seconds,
            "flip_rate": None if np.isnan(self.flip_rate) else self.flip_rate,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "interpretations": items,
        }

    def table(
        self,
        feature_names: Sequence[str] | None = None,
        inverse: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        categorical: bool = False,
        limit: int | None = None,
    ) -> str:
        """The table of each interpretation (of the first ``limit``), numbered."""
        items = list(self)[:limit] if limit is not None else list(self)
        return "\n\n".join(
            f"#{i} " + item.table(feature_names, inverse, categorical=categorical) for i, item in enumerate(items)
        )

    @classmethod
    def merge(cls, parts: Sequence[tuple[np.ndarray, InterpretationBatch]], total: int) -> InterpretationBatch:
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
            anomalies=stack("anomalies"),
            references=stack("references"),
            changed=tuple(p.changed[j] for p, j in rows),
            scores=stack("scores"),
            reference_scores=stack("reference_scores"),
            flipped=stack("flipped"),
            steps=stack("steps"),
            threshold=first.threshold,
            seconds=sum(p.seconds for _, p in parts),
            method="+".join(dict.fromkeys(p.method for _, p in parts if p.method)),
            params=next((p.params for _, p in parts if p.params), {}),
            details=tuple(p.details[j] if p.details else {} for p, j in rows)
            if any(p.details for _, p in parts)
            else (),
            feature_names=next((p.feature_names for _, p in parts if p.feature_names is not None), None),
            feature_groups=next((p.feature_groups for _, p in parts if p.feature_groups is not None), None),
            needs=np.stack([p.needs[j] if p.needs is not None else np.full(2, -1) for p, j in rows])
            if any(p.needs is not None for _, p in parts)
            else None,
        )


def _flat_index(changed: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices into one flattened sample of ``changed`` (``[n]`` or ``[n, ndim]``)."""
    if changed.ndim == 2:
        return np.ravel_multi_index(tuple(changed.T), sample_shape).astype(np.int64)
    return np.asarray(changed, dtype=np.int64)
