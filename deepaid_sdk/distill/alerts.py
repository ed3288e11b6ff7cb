"""Alerts as the Distiller reads them: the changed features of one explanation, most important first.

``as_alerts`` accepts every form an explanation takes in this project: an ``InterpretationBatch``,
a sequence of ``Interpretation``, the records of ``InterpretationBatch.to_dict()["interpretations"]``,
or the JSON-lines records of ``deepaid explain`` (``changed`` as feature names).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import attrs
import numpy as np

from deepaid_sdk.results import Interpretation, InterpretationBatch

FeatureKey = Any
"""A changed feature as the source names it: an index, an index tuple (``[t, d]``), or a name."""


def _key(value: Any) -> FeatureKey:
    if isinstance(value, str):
        return value
    arr = np.asarray(value)
    if arr.ndim == 0:
        return int(arr)
    return tuple(int(v) for v in arr.reshape(-1))


def _value(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@attrs.frozen
class Alert:
    """One explained alert: what changed (most important first), the values, and domain extras."""

    changed: tuple[FeatureKey, ...]
    """Changed features, most important first (index, index tuple or name)."""
    anomaly_values: tuple[float | None, ...]
    """The anomaly's value at each changed feature (None where unknown)."""
    reference_values: tuple[float | None, ...]
    """The reference's value at each changed feature (None where unknown)."""
    details: Mapping[str, Any] = attrs.field(factory=dict)
    """Domain extras of the explanation (a graph path, log-key edits)."""
    id: Any = None
    """The record's id where the source has one."""

    def __attrs_post_init__(self) -> None:
        n = len(self.changed)
        if len(self.anomaly_values) != n or len(self.reference_values) != n:
            raise ValueError(
                f"anomaly_values/reference_values: expected {n} values (one per changed feature); "
                f"got {len(self.anomaly_values)} and {len(self.reference_values)}"
            )


def _from_interpretation(item: Interpretation, details: Mapping[str, Any] | None) -> Alert:
    changed = np.asarray(item.changed)
    keys = tuple(_key(c) for c in changed)
    return Alert(
        keys,
        tuple(_value(v) for v in np.asarray(item.anomaly_values).reshape(-1)),
        tuple(_value(v) for v in np.asarray(item.reference_values).reshape(-1)),
        dict(details or {}),
    )


def _from_record(record: Mapping[str, Any], i: int) -> Alert:
    if "changed" not in record:
        raise ValueError(f"interpretations[{i}]: expected a record with 'changed'; got keys {sorted(record)}")
    changed = record["changed"]
    if not isinstance(changed, (list, tuple)):
        raise TypeError(f"interpretations[{i}]['changed']: expected a list; got {type(changed).__name__}")
    n = len(changed)
    anomaly = record.get("anomaly_values") or [None] * n
    reference = record.get("reference_values") or [None] * n
    if len(anomaly) != n or len(reference) != n:
        raise ValueError(
            f"interpretations[{i}]: expected {n} anomaly_values and reference_values (one per changed "
            f"feature); got {len(anomaly)} and {len(reference)}"
        )
    details = record.get("details") or {}
    if not isinstance(details, Mapping):
        raise TypeError(f"interpretations[{i}]['details']: expected a dict; got {type(details).__name__}")
    return Alert(
        tuple(_key(c) for c in changed),
        tuple(_value(v) for v in anomaly),
        tuple(_value(v) for v in reference),
        dict(details),
        record.get("id"),
    )


def as_alerts(interpretations: Any) -> list[Alert]:
    """Every explanation of ``interpretations`` as an ``Alert`` (see the module docstring for the forms)."""
    if isinstance(interpretations, InterpretationBatch):
        details: Sequence[Any] = interpretations.details or ({},) * len(interpretations)
        return [_from_interpretation(item, d) for item, d in zip(interpretations, details)]
    if isinstance(interpretations, Interpretation):
        return [_from_interpretation(interpretations, None)]
    if isinstance(interpretations, Mapping) and "interpretations" in interpretations:
        return as_alerts(interpretations["interpretations"])
    if isinstance(interpretations, (str, bytes)) or not isinstance(interpretations, Iterable):
        raise TypeError(
            "interpretations: expected an InterpretationBatch, Interpretations, or records (dicts); "
            f"got {type(interpretations).__name__}"
        )
    out = []
    for i, item in enumerate(interpretations):
        if isinstance(item, Alert):
            out.append(item)
        elif isinstance(item, Interpretation):
            out.append(_from_interpretation(item, None))
        elif isinstance(item, Mapping):
            out.append(_from_record(item, i))
        else:
            raise TypeError(
                f"interpretations[{i}]: expected an Interpretation or a record (dict); got {type(item).__name__}"
            )
    return out
