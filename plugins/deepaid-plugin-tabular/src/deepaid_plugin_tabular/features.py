"""Feature metadata of a table: names, value bounds, integer and frozen columns.

Metadata is given in *original units* (what the analyst reads); ``model_constraints`` turns
it into constraints in the units the detector sees, through the user's scaler.
"""

from __future__ import annotations

import collections
import csv
import io
import os
import pathlib
from typing import Any, Iterable, Mapping, Sequence

import attrs
import numpy as np

from deepaid_sdk.records import array_field

PathLike = str | os.PathLike


def _bound(value: Any, names: tuple[str, ...], name: str, fill: float) -> np.ndarray:
    """A per-feature bound from None, a scalar, a sequence of ``D`` numbers or a ``{name: value}`` map."""
    width = len(names)
    if value is None:
        return np.full(width, fill)
    if isinstance(value, Mapping):
        out = np.full(width, fill)
        for key, v in value.items():
            out[_indices([key], names, name)[0]] = float(v)
        arr = out
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}: expected a number, {width} numbers or a {{name: value}} map; got {value!r:.80}"
            ) from None
        if arr.ndim == 0:
            arr = np.full(width, float(arr))
        elif arr.shape != (width,):
            raise ValueError(f"{name}: expected {width} values (one per feature); got shape {list(arr.shape)}")
    if np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN (use -inf/inf for an open side)")
    return arr


def _indices(value: Iterable[Any], names: tuple[str, ...], name: str) -> np.ndarray:
    """Feature indices from names, integer indices or a bool mask of length ``D``."""
    items = list(value)
    width = len(names)
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        if len(items) != width:
            raise ValueError(f"{name}: a bool mask needs {width} entries; got {len(items)}")
        return np.flatnonzero(np.asarray(items, dtype=bool))
    lookup = {n: i for i, n in enumerate(names)}
    out = []
    for v in items:
        if isinstance(v, str):
            if v not in lookup:
                raise ValueError(
                    f"{name}: unknown feature {v!r}; known: {', '.join(names[:8])}{', ...' if width > 8 else ''}"
                )
            out.append(lookup[v])
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not -width <= int(v) < width:
                raise ValueError(f"{name}: index {int(v)} is outside the {width} features")
            out.append(int(v) % width)
        else:
            raise TypeError(f"{name}: expected feature names or integer indices; got {type(v).__name__}: {v!r}")
    return np.unique(np.asarray(out, dtype=np.int64))


def _mask(value: Iterable[Any] | None, names: tuple[str, ...], name: str) -> np.ndarray:
    mask = np.zeros(len(names), dtype=bool)
    if value is not None:
        mask[_indices(value, names, name)] = True
    return mask


def _name_tuple(names: Iterable[str]) -> tuple[str, ...]:
    """``tuple`` as a typed converter (mypy cannot solve the type variable of ``converter=tuple``)."""
    return tuple(names)


@attrs.frozen
class FeatureSpec:
    """Names and validity rules of the features of a table, in original units."""

    names: tuple[str, ...] = attrs.field(converter=_name_tuple)
    """One unique, non-empty name per feature."""
    low: np.ndarray = array_field()
    """``[D]`` smallest valid value per feature (``-inf``: unbounded)."""
    high: np.ndarray = array_field()
    """``[D]`` largest valid value per feature (``inf``: unbounded)."""
    integer: np.ndarray = array_field()
    """``[D]`` bool: the feature holds whole numbers (counts, ports, flags)."""
    frozen: np.ndarray = array_field()
    """``[D]`` bool: the reference may not change this feature (identifiers, fixed context)."""

    def __attrs_post_init__(self) -> None:
        if not self.names:
            raise ValueError("names: expected at least one feature name")
        for i, n in enumerate(self.names):
            if not isinstance(n, str) or not n.strip():
                raise TypeError(f"names[{i}]: expected a non-empty string; got {n!r}")
        if len(set(self.names)) != len(self.names):
            dup = sorted(n for n, count in collections.Counter(self.names).items() if count > 1)
            raise ValueError(f"names: duplicate feature names {dup[:5]}")
        d = len(self.names)
        for field in ("low", "high", "integer", "frozen"):
            if getattr(self, field).shape != (d,):
                raise ValueError(f"{field}: expected {d} values; got shape {list(getattr(self, field).shape)}")
        bad = np.flatnonzero(self.low > self.high)
        if bad.size:
            raise ValueError(f"low/high: low > high for {[self.names[i] for i in bad[:5]]}")

    @classmethod
    def from_lists(
        cls,
        names: Sequence[str],
        *,
        low: Any = None,
        high: Any = None,
        integer: Iterable[Any] | None = None,
        frozen: Iterable[Any] | None = None,
    ) -> FeatureSpec:
        """Build from names plus optional bounds (number, list or ``{name: v}``) and integer/frozen features.

        ``integer`` and ``frozen`` take feature names, indices or a bool mask.
        """
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
            raise TypeError(f"names: expected a sequence of feature names; got {type(names).__name__}")
        names_t = tuple(names)
        return cls(
            names_t,
            _bound(low, names_t, "low", -np.inf),
            _bound(high, names_t, "high", np.inf),
            _mask(integer, names_t, "integer"),
            _mask(frozen, names_t, "frozen"),
        )

    @classmethod
    def default(cls, width: int) -> FeatureSpec:
        """``x0 .. x{D-1}``, unbounded, continuous."""
        return cls.from_lists([f"x{j}" for j in range(width)])

    @classmethod
    def from_csv(cls, source: PathLike | io.TextIOBase, *, delimiter: str = ",", **rules: Any) -> FeatureSpec:
        """Names from the header row of a CSV file (read with the csv module); ``rules`` as in ``from_lists``."""
        names, _ = _read(source, delimiter, header_only=True)
        return cls.from_lists(names, **rules)

    @property
    def width(self) -> int:
        return len(self.names)

    def check_width(self, width: int, name: str = "features") -> None:
        """A clear error when the metadata does not describe ``width`` features."""
        if self.width != width:
            raise ValueError(f"{name}: has {self.width} feature names; the model takes {width} features")

    def indices(self, which: Iterable[Any]) -> np.ndarray:
        """Indices of features given by name, index or bool mask."""
        return _indices(which, self.names, "features")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe metadata (infinite bounds as None)."""

        def finite(a: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in a]

        return {
            "names": list(self.names),
            "low": finite(self.low),
            "high": finite(self.high),
            "integer": [self.names[i] for i in np.flatnonzero(self.integer)],
            "frozen": [self.names[i] for i in np.flatnonzero(self.frozen)],
        }


def read_csv(source: PathLike | io.TextIOBase, *, delimiter: str = ",", **rules: Any) -> tuple[FeatureSpec, np.ndarray]:
    """A numeric CSV table with a header row: its ``FeatureSpec`` and its rows ``[N, D]`` (float64).

    Integer columns (every value a whole number) are marked ``integer`` unless ``rules`` say otherwise.
    """
    names, rows = _read(source, delimiter, header_only=False)
    data = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))
    if "integer" not in rules and len(data):
        rules["integer"] = list(np.all(np.isfinite(data) & (data == np.round(data)), axis=0))
    return FeatureSpec.from_lists(names, **rules), data


def _read(
    source: PathLike | io.TextIOBase, delimiter: str, *, header_only: bool
) -> tuple[list[str], list[list[float]]]:
    if isinstance(source, (str, os.PathLike)):
        with open(pathlib.Path(source), newline="", encoding="utf-8") as handle:
            return _parse(handle, delimiter, header_only, str(source))
    if hasattr(source, "read"):
        return _parse(source, delimiter, header_only, "source")
    raise TypeError(f"source: expected a path or an open text file; got {type(source).__name__}")


def _parse(handle: Any, delimiter: str, header_only: bool, where: str) -> tuple[list[str], list[list[float]]]:
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"{where}: expected a header row of feature names; the file is empty")
    names = [h.strip() for h in header]
    rows: list[list[float]] = []
    if header_only:
        return names, rows
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(names):
            raise ValueError(f"{where}: line {line} has {len(row)} values; the header has {len(names)}")
        try:
            rows.append([float(v) for v in row])
        except ValueError:
            raise ValueError(f"{where}: line {line} holds a value that is not a number: {row!r:.80}") from None
    return names, rows
