"""The Canberra distance: differences relative to magnitudes, for features of very different scales."""

from __future__ import annotations

import torch
from torch import Tensor

from deepaid_sdk.distances import Distance


class CanberraDistance(Distance):
    """Sum over features of |a - b| / (|a| + |b|), with 0/0 taken as 0 (a metric)."""

    name = "canberra"

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        denominator = a.abs() + b.abs()
        ratio = (a - b).abs() / torch.where(denominator > 0, denominator, torch.ones_like(denominator))
        return ratio.sum(dim=1)
