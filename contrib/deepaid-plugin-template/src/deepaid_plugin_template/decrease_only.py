"""A constraint a third party might need: these features may only go down in the reference.

An analyst reads "bytes_out would have been normal at 1,200 instead of 48,000" as actionable; "normal at
a higher failed-login count" is not. ``DecreaseOnlyConstraint(dims=[...])`` keeps every listed feature of
the reference at or below the alert's value. It is hard (enforced by projection after every search step)
and projects at ``priority`` 15: after the value domains of ``box`` (10), before ``integer`` rounding (20),
so a rounded value never climbs back above the alert, and long before ``frozen`` (90) and the ``k`` budget
(100), which may only undo changes and so keep it satisfied.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint


class DecreaseOnlyConstraint(Constraint):
    """Listed features (indices of the flattened sample, or column names via ``create``) never increase."""

    name = "decrease-only"
    hard = True
    priority = 15

    def __init__(self, dims: Sequence[int]) -> None:
        if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence) or not dims:
            raise ValueError(
                f"dims: expected a non-empty list of feature indices (or column names given to create); got {dims!r}"
            )
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
            raise TypeError(f"dims: expected feature indices >= 0; got {list(dims)!r}")
        self.dims = torch.as_tensor(sorted(set(dims)), dtype=torch.long)

    def _columns(self, ref: Tensor) -> Tensor:
        width = ref[0].numel()
        if int(self.dims.max()) >= width:
            raise ValueError(f"decrease-only dims: index {int(self.dims.max())} is outside the {width} features")
        return self.dims.to(ref.device)

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        flat, alert = ref.reshape(ref.shape[0], -1), anomaly.reshape(anomaly.shape[0], -1)
        cols = self._columns(ref)
        capped = torch.minimum(flat[:, cols], alert[:, cols])
        return flat.index_copy(1, cols, capped).reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        cols = self._columns(ref)
        flat, alert = ref.reshape(ref.shape[0], -1), anomaly.reshape(anomaly.shape[0], -1)
        return (flat[:, cols] <= alert[:, cols]).all(dim=1)
