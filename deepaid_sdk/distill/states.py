"""States of the Distiller: readable cells of what an explanation changed.

A ``State`` is a (feature, value cell) pair such as ``HpHp_5_weight`` / ``in the top 1% of
normal``. A ``StateExtractor`` turns alerts into state paths (most important change first).
``IntervalStates`` is the core's default: cells are intervals of the normal data's quantiles
(or edges a person gives from feature metadata). Plugins register extractors for their domain
through the ``register_distill_states`` hook; an extractor is saved with the rules by name and
parameters, so ``Distiller.from_dict`` rebuilds it.
"""

from __future__ import annotations

import abc
import re
from typing import Any, ClassVar, Mapping, Sequence

import attrs
import numpy as np

from deepaid_sdk.distill.alerts import Alert

_STEP_LABEL = re.compile(r"t=([0-9]+(?:,[0-9]+)*) (.+)")
#: Default quantiles of the normal data that cut each feature into cells.
DEFAULT_QUANTILES: tuple[float, ...] = (0.001, 0.01, 0.05, 0.25, 0.75, 0.95, 0.99, 0.999)


@attrs.frozen(order=True)
class State:
    """One cell: a feature (or a domain aspect: "changed endpoint") and a readable value cell."""

    feature: str
    value: str
    level: int | None = None
    """Ordinal of the cell where cells are ordered (intervals); near levels count as similar."""

    @property
    def text(self) -> str:
        """Feature and value cell as one readable phrase, as rules print it."""
        return f"{self.feature} {self.value}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: feature, value and level; ``from_dict`` reads it back."""
        return {"feature": self.feature, "value": self.value, "level": self.level}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "state") -> State:
        """Rebuild from ``to_dict()``; a malformed entry is a ValueError naming where it is (``where``)."""
        if (
            not isinstance(data, Mapping)
            or not isinstance(data.get("feature"), str)
            or not isinstance(data.get("value"), str)
        ):
            raise ValueError(f"{where}: expected {{'feature': str, 'value': str, 'level': int|null}}; got {data!r}")
        level = data.get("level")
        if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
            raise ValueError(f"{where}.level: expected an integer or null; got {level!r}")
        return cls(data["feature"], data["value"], level)


class StateExtractor(abc.ABC):
    """Turns alerts into state paths; ``params()`` is JSON-safe and rebuilds it as ``factory(**params)``."""

    name: ClassVar[str] = "custom"
    #: Cells of distance over which two states of one feature stop being more than partly similar
    #: (``deepaid_sdk.distill.rules.state_similarity``).
    level_span: ClassVar[float] = 3.0

    def states(self, alerts: Sequence[Alert]) -> list[tuple[State, ...]]:
        """One state path per alert, most important change first."""
        alerts = list(alerts)
        for i, alert in enumerate(alerts):
            if not isinstance(alert, Alert):
                raise TypeError(
                    f"alerts[{i}]: expected an Alert (see deepaid_sdk.distill.as_alerts); got {type(alert).__name__}"
                )
        return self._states(alerts)

    @abc.abstractmethod
    def _states(self, alerts: list[Alert]) -> list[tuple[State, ...]]:
        """Subclasses: the state paths of checked alerts."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """JSON-safe parameters: ``type(self)(**self.params())`` is an equal extractor."""

    def to_dict(self) -> dict[str, Any]:
        """Name and ``params()``: what a saved Distiller needs to rebuild this extractor from the registry."""
        return {"name": self.name, "params": self.params()}


def _percent(q: float) -> str:
    return f"{100 * q:.4g}%"


def interval_labels(quantiles: Sequence[float]) -> tuple[str, ...]:
    """Readable names of the cells cut by ``[min, *quantiles, max]`` of normal data."""
    qs = [0.0, *quantiles, 1.0]
    labels = ["below every normal value"]
    for lo, hi in zip(qs[:-1], qs[1:]):
        if hi <= 0.5:
            labels.append(f"in the bottom {_percent(hi)} of normal")
        elif lo >= 0.5:
            labels.append(f"in the top {_percent(1 - lo)} of normal")
        elif lo == 1 - hi:
            labels.append(f"in the middle {_percent(hi - lo)} of normal")
        else:
            labels.append(f"between the {_percent(lo)} and {_percent(hi)} quantiles of normal")
    labels.append("above every normal value")
    return tuple(labels)


class IntervalStates(StateExtractor):
    """Feature-interval cells: which interval of the normal data the anomaly's value lies in.

    ``edges[d]`` are increasing cut points of feature ``d`` (``L`` of them) and ``labels`` the
    ``L + 1`` cell names: cell ``i`` holds values in ``[edges[i-1], edges[i])``, the last
    cell values above ``edges[-1]``. Build it from normal data with ``fit`` or from feature
    metadata by giving ``edges`` and ``labels``. Index-tuple keys (``[t, d]``) use the last
    index as the feature and name the others (``t=3 bytes``).
    """

    name = "intervals"

    def __init__(self, feature_names: Sequence[str], edges: Any, labels: Sequence[str]) -> None:
        self.feature_names = tuple(str(n) for n in feature_names)
        self.edges = np.asarray(edges, dtype=np.float64)
        self.labels = tuple(str(label) for label in labels)
        d = len(self.feature_names)
        if self.edges.ndim != 2 or self.edges.shape[0] != d:
            raise ValueError(
                f"edges: expected [{d}, L] cut points (one row per feature name); got shape {list(self.edges.shape)}"
            )
        if len(self.labels) != self.edges.shape[1] + 1:
            raise ValueError(f"labels: expected {self.edges.shape[1] + 1} names (one per cell); got {len(self.labels)}")
        if not np.isfinite(self.edges).all() or (np.diff(self.edges, axis=1) < 0).any():
            raise ValueError("edges: expected finite cut points, increasing along each row")
        self._index = {n: i for i, n in enumerate(self.feature_names)}

    @classmethod
    def fit(
        cls, normal: Any, feature_names: Sequence[str] | None = None, quantiles: Sequence[float] = DEFAULT_QUANTILES
    ) -> IntervalStates:
        """Cells from normal rows ``[N, D]`` (or ``[N, ..., D]``: the last axis is the feature)."""
        data = np.asarray(normal, dtype=np.float64)
        if data.ndim < 2 or data.shape[0] < 2:
            raise ValueError(f"normal: expected rows [N >= 2, ..., D]; got shape {list(data.shape)}")
        data = data.reshape(-1, data.shape[-1])
        data = data[np.isfinite(data).all(axis=1)]
        if data.shape[0] < 2:
            raise ValueError("normal: fewer than 2 finite rows")
        qs = [float(q) for q in quantiles]
        if any(not 0.0 < q < 1.0 for q in qs) or sorted(set(qs)) != qs:
            raise ValueError(f"quantiles: expected increasing values strictly between 0 and 1; got {list(quantiles)}")
        d = data.shape[1]
        names = tuple(feature_names) if feature_names is not None else tuple(f"feature {i}" for i in range(d))
        if len(names) != d:
            raise ValueError(f"feature_names: expected {d} names; got {len(names)}")
        edges = np.quantile(data, [0.0, *qs, 1.0], axis=0).T
        return cls(names, np.maximum.accumulate(edges, axis=1), interval_labels(qs))

    def params(self) -> dict[str, Any]:
        """Feature names, cut points and cell labels: all that rebuilds this extractor."""
        return {"feature_names": list(self.feature_names), "edges": self.edges.tolist(), "labels": list(self.labels)}

    def feature_index(self, key: Any) -> tuple[int, str]:
        """The feature row of ``key`` and its readable name; unknown keys raise ValueError."""
        if isinstance(key, str):
            step = _STEP_LABEL.fullmatch(key)
            if key not in self._index and step is not None and step.group(2) in self._index:
                # "t=3 bytes" as feature_label writes a window cell
                return self.feature_index((*map(int, step.group(1).split(",")), self._index[step.group(2)]))
            if key not in self._index:
                raise ValueError(
                    f"changed: unknown feature name {key!r}; the states know {len(self._index)} names "
                    f"(e.g. {list(self.feature_names[:3])})"
                )
            return self._index[key], key
        idx = (key,) if isinstance(key, int) else tuple(key)
        d = idx[-1]
        if not 0 <= d < len(self.feature_names):
            raise ValueError(f"changed: feature index {d} out of range for {len(self.feature_names)} features")
        prefix = ",".join(str(i) for i in idx[:-1])
        return d, (f"t={prefix} {self.feature_names[d]}" if prefix else self.feature_names[d])

    def levels(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Cell of each ``values[i]`` for feature ``rows[i]`` (NaN values: -1)."""
        edges = self.edges[rows]
        v = values[:, None]
        level = np.where(v <= edges[:, -1:], (v >= edges[:, :-1]).sum(axis=1, keepdims=True), edges.shape[1])[:, 0]
        return np.where(np.isnan(values), -1, level)

    def _states(self, alerts: list[Alert]) -> list[tuple[State, ...]]:
        keys = [
            (i, self.feature_index(k), v) for i, a in enumerate(alerts) for k, v in zip(a.changed, a.anomaly_values)
        ]
        rows = np.array([k[1][0] for k in keys], dtype=np.int64)
        values = np.array([np.nan if k[2] is None else k[2] for k in keys], dtype=np.float64)
        levels = self.levels(rows, values) if keys else np.zeros(0, dtype=np.int64)
        out: list[list[State]] = [[] for _ in alerts]
        for (i, (_, name), _), level in zip(keys, levels.tolist()):
            out[i].append(State(name, "changed") if level < 0 else State(name, self.labels[level], int(level)))
        return [tuple(path) for path in out]
