"""The normal data, prepared and scored once for one detector, and handed to whoever needs it.

``NormalData`` holds the rows as the user gave them (float64, for statistics), the same rows prepared
for the model (dtype and device), their scores, and the schema. The threshold's calibration, the
search's typical target, the per-feature units and bounds of the presets, the blackbox search's
candidate values and the gradient probe all read this one value, so the rows are converted and
scored once however many of them need it.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.checks import as_tensor, check_finite_number

#: Points of the recorded normal-score distribution (quantiles 0, 0.001, ..., 1).
SCORE_POINTS = 1001
#: Rows per model call when scoring the normal rows (memory bound only).
_SCORE_ROWS = 8192


@attrs.frozen(eq=False)
class NormalData:
    """Normal rows of one detector: values, prepared rows, scores, and what is derived from them."""

    values: Tensor
    """The rows as given, float64 on the CPU, ``[M, *sample_shape]``."""
    rows: Tensor
    """The rows prepared for the model (``adapter.prepare``): its dtype, on its device."""
    scores: Tensor
    """The detector's score of each row, float64 on the CPU ``[M]``."""
    schema: Any = None
    """The feature schema the rows were read with, where known (``deepaid_sdk.schema.FeatureSchema``)."""

    @classmethod
    def of(cls, adapter: Any, normal: Any, *, schema: Any = None, name: str = "normal") -> NormalData:
        """Prepare and score ``normal`` (an array, tensor or ``NormalData``) for ``adapter``, once."""
        if isinstance(normal, NormalData):
            return normal
        values = as_tensor(normal, name)
        rows = adapter.prepare(values, name)
        if rows.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one normal row; got none")
        with torch.no_grad():
            scores = torch.cat([adapter.score(part) for part in rows.split(_SCORE_ROWS)]).double().cpu()
        if not bool(torch.isfinite(scores).all()):
            raise ValueError(f"{name}: the model gave non-finite scores to some normal rows")
        return cls(values.detach().double().cpu(), rows, scores, schema)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __deepaid_rows__(self) -> Tensor:
        """The rows as given (float64): what ``as_tensor`` reads, so a ``NormalData`` serves wherever rows do."""
        return self.values

    @functools.cached_property
    def _points(self) -> Tensor:
        grid = torch.linspace(0.0, 1.0, SCORE_POINTS, dtype=torch.float64)
        return torch.quantile(self.scores, grid)

    def score_quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the normal scores, read off a 1001-point grid (interpolated)."""
        if not 0.0 <= float(q) <= 1.0:
            raise ValueError(f"q: expected a quantile in [0, 1]; got {q}")
        points = self._points
        pos = float(q) * (len(points) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(points) - 1)
        return float(points[lo] + (points[hi] - points[lo]) * (pos - lo))

    def threshold_at(self, percentile: float) -> float:
        """The ``percentile`` (0..100] of the normal scores: the threshold calibrated on these rows."""
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile: expected a value in (0, 100]; got {percentile}")
        return float(torch.quantile(self.scores, float(percentile) / 100.0))

    @functools.cached_property
    def median_score(self) -> float:
        """The median normal score (the lower middle one for an even count): a typical normal sample's."""
        return float(torch.median(self.scores))

    @functools.cached_property
    def flat(self) -> np.ndarray:
        """The values as ``[M, N]`` float64 numpy (features of the flattened sample)."""
        return self.values.reshape(self.values.shape[0], -1).numpy()

    @functools.cached_property
    def std(self) -> np.ndarray:
        """Each feature's standard deviation over the rows (0 for one row)."""
        x = self.values.reshape(self.values.shape[0], -1)
        return (x.std(dim=0) if x.shape[0] > 1 else x.new_zeros(x.shape[1])).numpy()


def prepare_normal(
    adapter: Any, normal: Any, threshold: float | None = None, percentile: float = 99.0, *, schema: Any = None
) -> NormalData | None:
    """The one place a detector's threshold and normal scores are settled.

    ``threshold`` sets the threshold where given; ``normal`` rows are prepared and scored once
    (``NormalData``) and recorded on the adapter (the typical target of the searches); where no
    threshold is known they calibrate it at ``percentile``. Returns the ``NormalData`` (None without rows).
    """
    if threshold is not None:
        adapter.threshold = check_finite_number(threshold, "threshold")
    if normal is None:
        return None
    data = NormalData.of(adapter, normal, schema=schema)
    if threshold is None and not adapter.has_threshold:
        adapter.calibrate(data, percentile)
    else:
        adapter.observe_normal(data)
    return data
