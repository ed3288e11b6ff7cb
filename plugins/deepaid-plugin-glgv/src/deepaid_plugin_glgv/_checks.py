"""Argument checks of this plugin's public entry points (private: the messages are the API)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; TypeError for non-integers, ValueError below the minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer; got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}; got {value}")
    return int(value)


def check_float(value: Any, name: str, *, minimum: float | None = None) -> float:
    """``value`` as a finite float (>= ``minimum`` when given)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number; got {type(value).__name__}: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number; got {number}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}; got {number}")
    return number


def check_positive_float(value: Any, name: str) -> float:
    """``value`` as a finite float > 0."""
    number = check_float(value, name)
    if number <= 0:
        raise ValueError(f"{name}: expected a number > 0; got {number}")
    return number
