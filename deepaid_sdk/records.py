"""Frozen records of numpy arrays: one field helper so equality and conversion are right everywhere.

attrs' default ``==`` on numpy arrays is elementwise and raises in ``bool()``; a record of arrays
compares them with ``np.array_equal`` instead. Use ``array_field()`` for each array attribute of an
``@attrs.frozen`` class (results, synthetic data sets, parsed logs, packet tables).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np


def _converter(dtype: Any) -> Any:
    def convert(value: Any) -> np.ndarray:
        return np.asarray(value, dtype=dtype)

    return convert


def array_field(*, dtype: Any = None, **options: Any) -> Any:
    """An attrs field holding a numpy array: compared with ``np.array_equal``; converted to ``dtype`` if given."""
    if dtype is not None:
        options.setdefault("converter", _converter(dtype))
    return attrs.field(eq=attrs.cmp_using(eq=np.array_equal), **options)
