"""Validity of tabular references in the detector's units, from metadata in original units.

A detector usually sees scaled features. A count that must stay a whole number in original
units then lies on an evenly spaced grid ``origin + step * n`` in model units; ``GridConstraint``
keeps it there. ``model_constraints`` turns a ``FeatureSpec`` and a per-feature affine scaler
into box, grid/integer and frozen constraints the search can use.
"""

from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_tabular.features import FeatureSpec
from deepaid_sdk.checks import feature_indices
from deepaid_sdk.constraints import BoxConstraint, Constraint, FrozenConstraint, IntegerConstraint


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _vector(value: Any, name: str, width: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(width, float(arr))
    if arr.shape != (width,):
        raise ValueError(f"{name}: expected one value per listed feature ({width}); got shape {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values")
    return arr


class GridConstraint(Constraint):
    """Listed features stay on the grid ``origin + step * n`` (whole numbers in original units, after scaling)."""

    name = "grid"
    hard = True
    priority = 20

    def __init__(self, dims: Sequence[int] | np.ndarray, origin: Any = 0.0, step: Any = 1.0) -> None:
        idx = feature_indices(dims, "dims")
        if np.unique(idx).size != idx.size:
            raise ValueError("dims: a feature is listed twice")
        self.dims = torch.as_tensor(idx)
        self.origin = torch.as_tensor(_vector(origin, "origin", idx.size))
        self.step = torch.as_tensor(_vector(step, "step", idx.size))
        if bool((self.step <= 0).any()):
            raise ValueError("step: expected grid steps > 0")

    def _parts(self, ref: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r = _flat(ref)
        if self.dims.numel() and int(self.dims.max()) >= r.shape[1]:
            raise ValueError(f"grid dims: index {int(self.dims.max())} is outside the {r.shape[1]} features")
        dims = self.dims.to(ref.device)
        origin, step = self.origin.to(ref.device), self.step.to(ref.device)
        # Rounded in float64: in float32 a fine grid (1/range of a large count) loses whole steps.
        values = r[:, dims].double()
        return r, dims, values, origin + step * torch.round((values - origin) / step)

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        if not self.dims.numel():
            return ref
        r, dims, _, snapped = self._parts(ref)
        out = r.clone()
        out[:, dims] = snapped.to(r.dtype)
        return out.reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        if not self.dims.numel():
            return torch.ones(ref.shape[0], dtype=torch.bool, device=ref.device)
        _, _, values, snapped = self._parts(ref)
        # Tolerance: a few units in the last place of the stored dtype, plus a sliver of a step.
        ulp = torch.finfo(ref.dtype).eps * snapped.abs().clamp_min(1.0)
        return ((values - snapped).abs() <= 4 * ulp + 1e-6 * self.step.to(ref.device)).all(dim=1)


def affine_of(scaler: Any, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(origin, unit)`` with ``scaler.transform(x) == origin + unit * x`` per feature.

    Read off by transforming rows of zeros and ones, then checked on a third row, so any
    per-feature affine scaler with ``transform`` works (the core's, scikit-learn's).
    """
    if not callable(getattr(scaler, "transform", None)) or not callable(getattr(scaler, "inverse_transform", None)):
        raise TypeError(f"scaler: expected an object with transform and inverse_transform; got {type(scaler).__name__}")
    probe = np.stack([np.zeros(width), np.ones(width), np.full(width, 7.25)])
    try:
        out = np.asarray(scaler.transform(probe), dtype=np.float64)
    except Exception as exc:
        raise ValueError(
            f"scaler: transform failed on rows of {width} features ({type(exc).__name__}: {exc}); "
            "is it fitted on data of the model's width?"
        ) from None
    if out.shape != probe.shape:
        raise ValueError(f"scaler: transform of [3, {width}] returned shape {list(out.shape)}")
    origin, unit = out[0], out[1] - out[0]
    if not np.allclose(out[2], origin + 7.25 * unit, rtol=1e-6, atol=1e-9):
        raise ValueError(
            "scaler: expected a per-feature affine scaler (x - offset) / scale; its transform is not affine"
        )
    if (unit <= 0).any():
        raise ValueError("scaler: expected increasing per-feature scaling (scale > 0)")
    return origin, unit


def model_constraints(spec: FeatureSpec, scaler: Any = None) -> list[Constraint]:
    """Box, integer (or grid, when scaled) and frozen constraints of ``spec`` in the model's units."""
    out: list[Constraint] = []
    origin, unit = affine_of(scaler, spec.width) if scaler is not None else (None, None)
    if np.isfinite(spec.low).any() or np.isfinite(spec.high).any():
        low, high = spec.low, spec.high
        if origin is not None:
            with np.errstate(invalid="ignore"):
                low = np.where(np.isfinite(low), origin + unit * low, low)
                high = np.where(np.isfinite(high), origin + unit * high, high)
        out.append(BoxConstraint(low, high))
    dims = np.flatnonzero(spec.integer)
    if dims.size:
        out.append(
            IntegerConstraint(dims)
            if origin is None
            else GridConstraint(dims, origin[dims], cast(np.ndarray, unit)[dims])
        )
    frozen = np.flatnonzero(spec.frozen)
    if frozen.size:
        out.append(FrozenConstraint(frozen))
    return out
