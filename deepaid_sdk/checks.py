"""Argument checks for public entry points, shared by the core and plugins.

Each raises ``TypeError``/``ValueError`` naming the argument, what was expected and what was given.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor


def table_columns(value: Any) -> list[str] | None:
    """Column names of a pandas DataFrame or a pyarrow Table/RecordBatch; None for anything else."""
    module = type(value).__module__ or ""
    if module.startswith("pandas") and hasattr(value, "columns") and hasattr(value, "to_numpy"):
        return [str(c) for c in value.columns]
    if module.startswith("pyarrow") and hasattr(value, "column_names") and hasattr(value, "columns"):
        return [str(c) for c in value.column_names]
    return None


def table_select(value: Any, names: Sequence[str]) -> Any:
    """The DataFrame or Arrow table ``value`` with only the columns ``names``, in that order (index kept)."""
    if (type(value).__module__ or "").startswith("pandas"):
        by_text = {str(c): c for c in value.columns}
        return value[[by_text[n] for n in names]]
    return value.select(list(names))


def table_array(value: Any, name: str) -> np.ndarray:
    """A DataFrame or Arrow table as a ``[rows, columns]`` numeric array (columns in the table's order)."""
    return _table_array(value, name)


def _table_array(value: Any, name: str) -> np.ndarray:
    """A DataFrame or Arrow table as a ``[rows, columns]`` numeric array; a TypeError naming bad columns."""
    columns = table_columns(value)
    if (type(value).__module__ or "").startswith("pandas"):
        arrays = [value[c].to_numpy() for c in value.columns]
    else:
        arrays = [
            col.to_numpy(zero_copy_only=False) if hasattr(col, "to_numpy") else np.asarray(col) for col in value.columns
        ]
    bad = [c for c, a in zip(columns or [], arrays) if a.dtype == object or a.dtype.kind not in "biuf"]
    if bad:
        raise TypeError(f"{name}: expected numeric columns; not numeric: {bad[:5]}{'...' if len(bad) > 5 else ''}")
    if not arrays:
        raise ValueError(f"{name}: the table has no columns")
    return np.column_stack(arrays)


def as_tensor(value: Any, name: str, *, dtype: torch.dtype | None = None, device: Any = None) -> Tensor:
    """``value`` (numpy array, tensor, nested list, DataFrame, Arrow table) as a detached tensor.

    A table's columns become the last axis (``[rows, columns]``); an object with ``__deepaid_rows__``
    (``deepaid_sdk.normal.NormalData``) gives its rows; anything else is a clear TypeError.
    """
    rows = getattr(value, "__deepaid_rows__", None)
    if callable(rows):
        value = rows()
    if table_columns(value) is not None:
        value = _table_array(value, name)
    if isinstance(value, Tensor):
        t = value.detach()
    elif isinstance(value, np.ndarray) or isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value)
            if not arr.flags.writeable:  # e.g. pandas' to_numpy(): torch would warn about sharing it
                arr = arr.copy()
            t = torch.as_tensor(arr)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a numeric array or tensor; could not convert ({exc})") from None
    else:
        raise TypeError(
            f"{name}: expected a numpy array or torch tensor; got {type(value).__name__} "
            "(a pandas DataFrame or pyarrow Table of numeric columns works too)"
        )
    if t.dtype == torch.bool or t.is_complex() or not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise TypeError(f"{name}: expected a real numeric array; got dtype {t.dtype}")
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype or t.dtype, device=device if device is not None else t.device)
    return t


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def check_batch(x: Tensor, name: str, sample_shape: Sequence[int] | None) -> None:
    """A non-empty batch ``[B, *sample_shape]`` of finite values."""
    if x.ndim == 0:
        raise ValueError(f"{name}: expected a batch [B, ...]; got a scalar")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {tuple(x.shape)})")
    if sample_shape is not None:
        expected = (x.shape[0], *sample_shape)
        if tuple(x.shape) != expected:
            raise ValueError(f"{name}: expected shape [B, {', '.join(map(str, sample_shape))}]; got {list(x.shape)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name}: contains NaN or inf (rows {bad[:10]}{'...' if len(bad) > 10 else ''})")


def check_finite_number(value: Any, name: str, *, minimum: float | None = None, above: float | None = None) -> float:
    """``value`` as a finite float, ``>= minimum`` and ``> above`` where those are given."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{name}: expected a number; got {type(value).__name__}: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number; got {type(value).__name__}: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number; got {number}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}; got {number}")
    if above is not None and number <= above:
        raise ValueError(f"{name}: expected a number > {above}; got {number}")
    return number


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; TypeError for non-integers (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer; got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}; got {value}")
    return int(value)


def feature_indices(value: Any, name: str = "dims") -> np.ndarray:
    """Feature indices (ints or a bool mask) as a 1-d int64 array, order kept; >= 0."""
    idx = np.asarray(value)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{name}: expected integer feature indices; got dtype {idx.dtype}")
    if idx.size and idx.min() < 0:
        raise ValueError(f"{name}: expected indices >= 0; got {int(idx.min())}")
    return idx.astype(np.int64).reshape(-1)


def check_dtype_range(x: Tensor, name: str, dtype: torch.dtype) -> None:
    """Floating values that ``dtype`` can hold: no overflow to inf when converted (e.g. float64 to float32)."""
    if not (x.is_floating_point() and dtype.is_floating_point) or torch.finfo(dtype).max >= torch.finfo(x.dtype).max:
        return
    too_big = (x.abs() > torch.finfo(dtype).max).reshape(x.shape[0], -1).any(dim=1)
    if bool(too_big.any()):
        bad = too_big.nonzero().flatten().tolist()
        raise ValueError(
            f"{name}: values beyond the {dtype} range (|value| > {torch.finfo(dtype).max:.3g}) "
            f"in rows {bad[:10]}{'...' if len(bad) > 10 else ''}; rescale the data"
        )


def check_device(device: Any, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device``; a clear error when CUDA was asked for and torch sees none."""
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError) as exc:
        raise TypeError(f"{name}: expected a torch device such as 'cpu' or 'cuda'; got {device!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}: cuda was asked for but torch sees no CUDA device")
    return dev


def check_output(
    out: Any, expected: Sequence[int], name: str = "model", what: str = "output", hint: str = ""
) -> Tensor:
    """A model's output: a tensor of shape ``expected``; a ValueError naming ``name`` and both shapes otherwise."""
    expected = tuple(int(e) for e in expected)
    if not isinstance(out, Tensor) or tuple(out.shape) != expected:
        got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{name}: expected {what} of shape {list(expected)}; got {got}{hint}")
    return out
