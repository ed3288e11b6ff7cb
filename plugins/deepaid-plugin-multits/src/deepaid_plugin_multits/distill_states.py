"""Distiller states of multivariate time series: feature, step of the window, and value interval.

Changed cells are ``[t, d]`` of a window of ``length`` steps; a state names the feature and the
step counted back from the last one (``cpu @ t`` is the actual vector, ``cpu @ t-2`` two steps
before), with the interval of the value in the feature's normal distribution.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepaid_sdk.distill.states import DEFAULT_QUANTILES, IntervalStates


class StepIntervalStates(IntervalStates):
    """Feature-interval cells of window samples ``[length, D]``, named with the step back from the end."""

    name = "multits"

    def __init__(self, feature_names: Sequence[str], edges: Any, labels: Sequence[str], length: int) -> None:
        super().__init__(feature_names, edges, labels)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length: expected the number of steps of a sample (positive int); got {length!r}")
        self.length = length

    @classmethod
    def fit_series(
        cls,
        normal: Any,
        length: int,
        feature_names: Sequence[str] | None = None,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
    ) -> StepIntervalStates:
        """Cells from a normal series ``[T, D]`` or samples ``[N, length, D]``; ``length`` = W + 1."""
        base = IntervalStates.fit(
            np.asarray(normal, dtype=np.float64).reshape(-1, np.shape(normal)[-1]), feature_names, quantiles
        )
        return cls(base.feature_names, base.edges, base.labels, length)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "length": self.length}

    def feature_index(self, key: Any) -> tuple[int, str]:
        if isinstance(key, (str, int)):
            return super().feature_index(key)
        t, d = tuple(key)[-2:]
        row, name = super().feature_index(int(d))
        back = self.length - 1 - int(t)
        return row, f"{name} @ t" + (f"-{back}" if back else "")
