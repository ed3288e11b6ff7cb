"""The settings of the blackbox search as one frozen record: checked once, read by every phase."""

from __future__ import annotations

from typing import Any

import attrs

from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.target import DEFAULT_KEEP_SHARE, DEFAULT_QUANTILE

#: Candidate value sources, in the order they are stacked.
VALUE_SOURCES = ("neighbours", "nearest", "quantiles", "reconstruction")


def _quantile_or_none(_: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name}: expected a quantile in [0, 1] of normal scores, or None; got {value}")


def _target(value: Any) -> float | None:
    return None if value is None else check_finite_number(value, "target")


def _share(value: Any) -> float | None:
    if value is None:
        return None
    share = check_finite_number(value, "keep_share", minimum=0)
    if share > 1:
        raise ValueError(f"keep_share: expected a share in [0, 1] of the row's largest rise, or None; got {value}")
    return share


def _values(value: Any) -> tuple[str, ...]:
    values = tuple(value)
    unknown = [v for v in values if v not in VALUE_SOURCES]
    if not values or unknown:
        raise ValueError(f"values: expected a non-empty subset of {VALUE_SOURCES}; got {values}")
    return values


def _quantiles(value: Any) -> tuple[float, ...]:
    quantiles = tuple(check_finite_number(q, "quantiles", minimum=0) for q in value)
    if any(q > 1 for q in quantiles):
        raise ValueError(f"quantiles: expected values in [0, 1]; got {quantiles}")
    return quantiles


def _count(name: str, default: int, minimum: int = 1) -> Any:
    return attrs.field(default=default, converter=lambda v: check_positive_int(v, name, minimum=minimum))


@attrs.frozen
class BlackboxSettings:
    """What ``BlackboxSearch`` was asked for (see its docstring for each field)."""

    target: float | None = attrs.field(default=DEFAULT_QUANTILE, converter=_target, validator=_quantile_or_none)
    values: tuple[str, ...] = attrs.field(default=("neighbours", "reconstruction"), converter=_values)
    quantiles: tuple[float, ...] = attrs.field(default=(0.25, 0.5, 0.75), converter=_quantiles)
    neighbours: int = _count("neighbours", 8)
    width: int = _count("width", 1)
    screen: int = _count("screen", 32)
    refine_steps: int = _count("refine_steps", 10, 0)
    swaps: int = _count("swaps", 2, 0)
    line_steps: int = _count("line_steps", 6, 0)
    prune: bool = attrs.field(default=True, converter=bool)
    keep_share: float | None = attrs.field(default=DEFAULT_KEEP_SHARE, converter=_share)
    max_normal: int = _count("max_normal", 2048)
    chunk: int = _count("chunk", 1 << 24)
