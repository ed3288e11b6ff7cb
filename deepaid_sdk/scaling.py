"""Feature scalers with an exact inverse, so explanations can be shown in original units.

Each works on numpy arrays and torch tensors of shape ``[N, D]`` (or ``[N, W, D]``: the last
axis is the feature axis), is fitted on normal data, and round-trips exactly up to float error.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from deepaid_sdk.checks import as_tensor

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
ScalerT = TypeVar("ScalerT", bound="Scaler")


class Scaler:
    """``transform(x) = (x - offset) / scale`` per feature (last axis); ``inverse_transform`` undoes it."""

    name = "identity"

    def __init__(self) -> None:
        self.offset: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(x.shape[-1]), np.ones(x.shape[-1])

    def fit(self: ScalerT, x: Any) -> ScalerT:
        """Learn per-feature statistics from normal data ``[N, ..., D]``."""
        data = as_tensor(x, "x").double().cpu().numpy()
        if data.ndim < 2 or data.shape[0] == 0:
            raise ValueError(f"x: expected a non-empty array [N, ..., D]; got shape {list(data.shape)}")
        if not np.isfinite(data).all():
            raise ValueError("x: contains NaN or inf")
        offset, scale = self._statistics(data.reshape(-1, data.shape[-1]))
        # A constant feature keeps scale 1 so transform stays finite and exactly invertible.
        self.offset, self.scale = offset, np.where(scale > 0, scale, 1.0)
        return self

    def fit_transform(self, x: ArrayT) -> ArrayT:
        return self.fit(x).transform(x)

    def _params(self, x: ArrayT, name: str) -> tuple[Any, Any]:
        if self.offset is None or self.scale is None:
            raise ValueError(f"{type(self).__name__}: not fitted; call fit(normal_data) first")
        if x.shape[-1] != self.offset.shape[0]:
            raise ValueError(f"{name}: expected {self.offset.shape[0]} features on the last axis; got {x.shape[-1]}")
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.float32
            return (
                torch.as_tensor(self.offset, dtype=dtype, device=x.device),
                torch.as_tensor(self.scale, dtype=dtype, device=x.device),
            )
        return self.offset, self.scale

    def transform(self, x: ArrayT) -> ArrayT:
        offset, scale = self._params(x, "x")
        return (x - offset) / scale

    def inverse_transform(self, x: ArrayT) -> ArrayT:
        offset, scale = self._params(x, "x")
        return x * scale + offset

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters (save them beside the model's state dict)."""
        return {
            "name": self.name,
            "offset": None if self.offset is None else self.offset.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        scaler = SCALERS[data["name"]]()
        scaler.offset = np.asarray(data["offset"], dtype=np.float64)
        scaler.scale = np.asarray(data["scale"], dtype=np.float64)
        return scaler


class MinMaxScaler(Scaler):
    """Maps each feature's training range to [0, 1]."""

    name = "minmax"

    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low = x.min(axis=0)
        return low, x.max(axis=0) - low


class StandardScaler(Scaler):
    """Zero mean, unit standard deviation per feature."""

    name = "standard"

    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.mean(axis=0), x.std(axis=0)


class RobustScaler(Scaler):
    """Median and inter-quartile range per feature (insensitive to outliers in training data)."""

    name = "robust"

    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q1, median, q3 = np.percentile(x, [25, 50, 75], axis=0)
        return median, q3 - q1


SCALERS: dict[str, type[Scaler]] = {cls.name: cls for cls in (Scaler, MinMaxScaler, StandardScaler, RobustScaler)}
