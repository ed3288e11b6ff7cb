"""Sliding windows over a multivariate series ``[T, D]``.

One *sample* is an array ``[W + 1, D]``: the ``W`` context steps the predictor reads, followed by
the vector it has to predict (the actual one). The predictor's input is ``sample[:-1]`` and its
target ``sample[-1]``; sample ``i`` of a series ends at step ``i + W``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from deepaid_sdk.checks import as_tensor, check_positive_int


def check_series(series: Any, name: str = "series", *, features: int | None = None) -> np.ndarray:
    """``series`` as a finite float32 array ``[T, D]``; errors name the argument and the bad steps."""
    t = as_tensor(series, name)
    if t.ndim != 2:
        raise ValueError(f"{name}: expected a series [T, D] (steps x features); got shape {list(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty series [T, D]; got shape {list(t.shape)}")
    if features is not None and t.shape[1] != features:
        raise ValueError(f"{name}: expected {features} features per step (last axis); got {t.shape[1]}")
    arr = t.cpu().numpy().astype(np.float32, copy=False)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        steps = np.flatnonzero(bad).tolist()
        raise ValueError(f"{name}: contains NaN or inf at steps {steps[:10]}{'...' if len(steps) > 10 else ''}")
    return arr


def _check_window(window: Any, length: int, name: str) -> int:
    w = check_positive_int(window, "window")
    if length < w + 1:
        raise ValueError(f"{name}: has {length} steps; windows of W={w} need at least W+1={w + 1}")
    return w


def sliding_windows(series: Any, window: int, *, stride: int = 1, name: str = "series") -> np.ndarray:
    """Every sample ``[W + 1, D]`` of the series (W context steps plus the actual vector): ``[N, W + 1, D]``."""
    arr = check_series(series, name)
    w = _check_window(window, arr.shape[0], name)
    stride = check_positive_int(stride, "stride")
    view = np.lib.stride_tricks.sliding_window_view(arr, (w + 1, arr.shape[1]))[:, 0]
    return np.ascontiguousarray(view[::stride])


def window_end_steps(length: int, window: int, *, stride: int = 1) -> np.ndarray:
    """The step of the actual (last) vector of each sample ``sliding_windows`` returns."""
    w = _check_window(window, check_positive_int(length, "length"), "length")
    return np.arange(w, length, check_positive_int(stride, "stride"))


def windows_at(series: Any, steps: Sequence[int] | np.ndarray, window: int) -> np.ndarray:
    """The samples ``[len(steps), W + 1, D]`` whose actual vector is ``series[step]``."""
    arr = check_series(series)
    w = _check_window(window, arr.shape[0], "series")
    idx = np.asarray(steps, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("steps: expected at least one step")
    bad = idx[(idx < w) | (idx >= arr.shape[0])]
    if bad.size:
        raise ValueError(
            f"steps: each must lie in [W, T) = [{w}, {arr.shape[0]}) so the window has W context "
            f"steps; got {bad[:10].tolist()}"
        )
    return arr[idx[:, None] + np.arange(-w, 1)[None, :]]


def mask_windows_at(mask: Any, steps: Sequence[int] | np.ndarray, window: int) -> np.ndarray:
    """``windows_at`` for a bool mask ``[T, D]`` (e.g. planted ground truth), kept bool."""
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"mask: expected a bool array [T, D]; got dtype {m.dtype}")
    return windows_at(m.astype(np.float32), steps, window) > 0.5


def split_samples(samples: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predictor inputs ``[N, W, D]`` and targets ``[N, D]`` of samples ``[N, W + 1, D]``."""
    t = as_tensor(samples, "samples")
    if t.ndim != 3 or t.shape[1] < 2:
        raise ValueError(f"samples: expected [N, W + 1, D] with W >= 1; got shape {list(t.shape)}")
    arr = t.cpu().numpy()
    return arr[:, :-1], arr[:, -1]


def training_pairs(series: Any | Sequence[Any], window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``[N, W, D]`` and targets ``[N, D]`` from one normal series or a list of them."""
    many = isinstance(series, (list, tuple)) and all(isinstance(s, (np.ndarray, torch.Tensor)) for s in series)
    parts = list(series) if many else [series]
    if not parts:
        raise ValueError("series: expected a series [T, D] or a non-empty list of them")
    samples = [sliding_windows(s, window) for s in parts]
    widths = {s.shape[2] for s in samples}
    if len(widths) > 1:
        raise ValueError(f"series: all series must have the same number of features; got {sorted(widths)}")
    joined = np.concatenate(samples)
    return torch.from_numpy(np.ascontiguousarray(joined[:, :-1])), torch.from_numpy(np.ascontiguousarray(joined[:, -1]))
