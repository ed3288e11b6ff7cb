"""Distances between a batch of references and a batch of anomalies, one value per row."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor


class Distance(ABC):
    """``distance(a, b) -> [B]`` over samples of any shape (compared flattened)."""

    name: str = ""
    #: Whether gradients through it are useful (an L0 count has none).
    differentiable: bool = True

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(f"distance {self.name}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
        if a.ndim == 0:
            raise ValueError(f"distance {self.name}: expected batches [B, ...]; got scalars")
        return self._distance(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))

    @abstractmethod
    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        """Distance of flattened rows ``[B, N]``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class L0Distance(Distance):
    """Number of features that differ by more than ``tol``."""

    name = "l0"
    differentiable = False

    def __init__(self, tol: float = 1e-6) -> None:
        if not tol >= 0:
            raise ValueError(f"tol: expected >= 0; got {tol}")
        self.tol = float(tol)

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        return ((a - b).abs() > self.tol).sum(dim=1).to(torch.float32)


class L1Distance(Distance):
    """Sum of absolute differences."""

    name = "l1"

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (a - b).abs().sum(dim=1)


class L2Distance(Distance):
    """Euclidean distance (with a smooth gradient at zero)."""

    name = "l2"

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        squared = (a - b).pow(2).sum(dim=1)
        # sqrt has an infinite gradient at 0; the reference starts exactly at the anomaly.
        return torch.where(squared > 0, squared.clamp_min(1e-30).sqrt(), squared)


class LinfDistance(Distance):
    """Largest absolute difference."""

    name = "linf"

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (a - b).abs().amax(dim=1)


class HammingDistance(Distance):
    """Number of positions holding different values (for discrete sequences and codes)."""

    name = "hamming"
    differentiable = False

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (a != b).sum(dim=1).to(torch.float32)


BUILTIN_DISTANCES: tuple[type[Distance], ...] = (L0Distance, L1Distance, L2Distance, LinfDistance, HammingDistance)
"""The distances the core registers (by their ``name``) through the same hook as plugins."""
