"""Magnitude states: interval cells inside the normal range, and how far beyond it, on a log scale.

``IntervalStates`` stops at "above every normal value": a benign burst at 1.4x the normal maximum
and a flood at 26x are one state, so rules cannot tell them apart although the detector does.
``MagnitudeStates`` keeps the normal data's interval cells inside its range and cuts what lies
beyond it in octaves of the normal range (measured from the normal minimum, so for a count that
starts at 0 it is a multiple of the normal maximum): ``above normal, 16-32x its range``. Below
the minimum likewise (``below normal, 2-4x its range``). Optionally

- ``direction``: the state names whether the anomaly is higher or lower than its reference
  (``HH_jit_0.1_weight (up)``), so two alerts that move a feature opposite ways differ;
- ``groups``: a group name per feature (``deepaid_sdk.groups``; Kitsune's statistic across its decay
  windows): a state is then the group, in the cell of its most important changed feature, once per
  path, so the same cause seen in another window is the same state.

Levels stay ordinal across all cells (below, inside, above), so near cells are still partly
similar when rules are matched.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepaid_sdk.distill.alerts import Alert
from deepaid_sdk.distill.states import DEFAULT_QUANTILES, IntervalStates, State

#: Octaves of the normal range beyond its ends (1-2x, 2-4x, ..., the last cell open-ended).
DEFAULT_OCTAVES = 12


def _octave_label(side: str, j: int, octaves: int) -> str:
    low = 2 ** (j - 1)
    if j == octaves:
        return f"{side} normal, over {low:g}x its range"
    return f"{side} normal, {low:g}-{2 * low:g}x its range"


class MagnitudeStates(IntervalStates):
    """Interval cells of normal data, plus octaves of the normal range beyond it (see the module docstring).

    :param feature_names: as ``IntervalStates``.
    :param edges: as ``IntervalStates``: ``edges[d, 0]`` and ``edges[d, -1]`` are the normal minimum and
        maximum of feature ``d``.
    :param labels: as ``IntervalStates``: the names of the cells between them.
    :param octaves: cells beyond each end of the normal range (the last one open-ended).
    :param direction: name whether the anomaly is above or below its reference.
    :param groups: a group name per feature, or None (see the module docstring).
    """

    name = "magnitude"
    #: Octaves are finer cells than quantiles: a flood at 4x or 16x the range is still partly the same state.
    level_span = 10.0

    def __init__(
        self,
        feature_names: Sequence[str],
        edges: Any,
        labels: Sequence[str],
        *,
        octaves: int = DEFAULT_OCTAVES,
        direction: bool = True,
        groups: Sequence[str] | None = None,
    ) -> None:
        super().__init__(feature_names, edges, labels)
        if isinstance(octaves, bool) or not isinstance(octaves, int) or octaves < 1:
            raise ValueError(f"octaves: expected a positive integer; got {octaves!r}")
        self.octaves = octaves
        self.direction = bool(direction)
        self.groups = None if groups is None else tuple(str(g) for g in groups)
        if self.groups is not None and len(self.groups) != len(self.feature_names):
            raise ValueError(
                f"groups: expected one group name per feature ({len(self.feature_names)}); got {len(self.groups)}"
            )
        inside = self.labels[1:-1]
        self.cell_labels = (
            *(_octave_label("below", j, octaves) for j in range(octaves, 0, -1)),
            *inside,
            *(_octave_label("above", j, octaves) for j in range(1, octaves + 1)),
        )

    @classmethod
    def fit(
        cls,
        normal: Any,
        feature_names: Sequence[str] | None = None,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        *,
        octaves: int = DEFAULT_OCTAVES,
        direction: bool = True,
        groups: Sequence[str] | None = None,
    ) -> MagnitudeStates:
        """Cells from normal rows ``[N, D]``: the normal data's quantiles inside, octaves of its range beyond."""
        base = IntervalStates.fit(normal, feature_names, quantiles)
        return cls(base.feature_names, base.edges, base.labels, octaves=octaves, direction=direction, groups=groups)

    def params(self) -> dict[str, Any]:
        """``IntervalStates``' parameters plus octaves, direction and groups."""
        return {
            **super().params(),
            "octaves": self.octaves,
            "direction": self.direction,
            "groups": None if self.groups is None else list(self.groups),
        }

    def cells(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Cell index (into ``cell_labels``) of each ``values[i]`` for feature ``rows[i]``; -1 for NaN."""
        edges = self.edges[rows]
        low, high = edges[:, 0], edges[:, -1]
        span = np.maximum(high - low, np.maximum(np.abs(high), 1.0) * 1e-9)
        inner = super().levels(rows, values)  # 0 below, 1..L-1 inside, L above (L = edges.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            up = np.clip(np.floor(np.log2(np.maximum((values - low) / span, 1.0))) + 1, 1, self.octaves)
            down = np.clip(np.floor(np.log2(np.maximum((high - values) / span, 1.0))) + 1, 1, self.octaves)
        top = edges.shape[1]
        out = np.where(inner == 0, self.octaves - down, self.octaves - 1 + inner)
        out = np.where(inner == top, self.octaves + top - 2 + up, out)
        return np.where(np.isnan(values), -1, out).astype(np.int64)

    def _states(self, alerts: list[Alert]) -> list[tuple[State, ...]]:
        keys = [
            (i, self.feature_index(k), v, r)
            for i, a in enumerate(alerts)
            for k, v, r in zip(a.changed, a.anomaly_values, a.reference_values)
        ]
        rows = np.array([k[1][0] for k in keys], dtype=np.int64)
        values = np.array([np.nan if k[2] is None else k[2] for k in keys], dtype=np.float64)
        refs = np.array([np.nan if k[3] is None else k[3] for k in keys], dtype=np.float64)
        cells = self.cells(rows, values) if keys else np.zeros(0, dtype=np.int64)
        out: list[list[State]] = [[] for _ in alerts]
        seen: list[set[str]] = [set() for _ in alerts]
        for (i, (row, name), value, _), cell, ref in zip(keys, cells.tolist(), refs.tolist()):
            feature = name if self.groups is None else name.replace(self.feature_names[row], self.groups[row])
            if self.direction and value is not None and not np.isnan(ref):
                feature += " (up)" if value > ref else " (down)"
            if feature in seen[i]:
                continue  # a group once per path: its most important feature speaks for it
            seen[i].add(feature)
            out[i].append(State(feature, "changed") if cell < 0 else State(feature, self.cell_labels[cell], int(cell)))
        return [tuple(path) for path in out]
