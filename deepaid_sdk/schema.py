"""The feature schema of a detector: its input columns' names, in the model's order.

The schema travels with the detector so that inputs are matched by name, never by position: a file or
a DataFrame whose columns are in another order is reordered, a missing column is an error naming it,
and columns the detector does not know are named (and ignored, or refused in strict mode).

It comes from the normal rows (a DataFrame's columns, the ``--normal`` file's header), from the names a
preset is given (``features=``), from a fitted scikit-learn estimator (``feature_names_in_``), or from a
file recorded beside the weights: ``WEIGHTS.schema.json`` (``FeatureSchema.save_beside(weights)``),
which ``deepaid explain`` reads when it is there.
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from typing import Any, Sequence

import attrs

#: Suffix of the schema file recorded beside a weights (or model) file: ``ae.safetensors.schema.json``.
SIDECAR_SUFFIX = ".schema.json"
#: Version of the JSON layout written by ``FeatureSchema.save``.
SCHEMA_VERSION = 1


class ExtraColumnsWarning(UserWarning):
    """An input has columns the detector's schema does not know; they were ignored."""


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"names: expected a sequence of column names; got {type(value).__name__}")
    names = tuple(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise TypeError(f"names: expected non-empty strings; got {bad[:5]!r}")
    if not names:
        raise ValueError("names: expected at least one column name; got none")
    seen: set[str] = set()
    dup = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dup:
        raise ValueError(f"names: each column may appear once; repeated: {dup}")
    return names


@attrs.frozen
class ColumnMatch:
    """How an input's columns meet a schema."""

    order: tuple[str, ...]
    """The schema's columns the input has, in the schema's (the model's) order."""
    missing: tuple[str, ...]
    """Schema columns the input lacks, in the schema's order."""
    extra: tuple[str, ...]
    """Input columns the schema does not know, in the input's order."""


@attrs.frozen
class FeatureSchema:
    """Names of a detector's input features, in the model's order (one name per last-axis feature)."""

    names: tuple[str, ...] = attrs.field(converter=_names)
    source: str = attrs.field(default="given", eq=False)
    """Where the schema came from (``normal``, a file path...), for messages; not part of equality."""

    @classmethod
    def from_columns(cls, columns: Sequence[Any], source: str = "columns") -> FeatureSchema:
        """From a table's column labels (a DataFrame's ``columns``, an Arrow table's ``column_names``)."""
        return cls(tuple(str(c) for c in columns), source)

    @classmethod
    def of(cls, value: Any, name: str = "schema") -> FeatureSchema | None:
        """``value`` as a schema: a ``FeatureSchema``, a list of names, a table (its columns) or a JSON file."""
        from deepaid_sdk.checks import table_columns

        if value is None or isinstance(value, FeatureSchema):
            return value
        if isinstance(value, (str, os.PathLike)):
            return cls.load(value, name)
        columns = table_columns(value)
        try:
            return cls.from_columns(columns, name) if columns is not None else cls(value, name)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"{name}: expected a FeatureSchema, a list of column names or a schema JSON file; {exc}"
            ) from None

    def __len__(self) -> int:
        return len(self.names)

    def match(self, names: Sequence[Any]) -> ColumnMatch:
        """Match an input's column ``names`` to this schema by name."""
        given = [str(n) for n in names]
        known = set(self.names)
        have = set(given)
        return ColumnMatch(
            order=tuple(n for n in self.names if n in have),
            missing=tuple(n for n in self.names if n not in have),
            extra=tuple(n for n in given if n not in known),
        )

    def check(
        self,
        names: Sequence[Any],
        argument: str,
        *,
        strict: bool = False,
        ignore: Sequence[str] = (),
        option: str = "strict_columns",
    ) -> tuple[str, ...]:
        """The input's extra columns; a ValueError naming ``argument`` and the columns when one is missing
        (or, with ``strict``, when one is extra). ``ignore``: columns that are neither (an id column)."""
        m = self.match(names)
        extra = tuple(n for n in m.extra if n not in set(ignore))
        if m.missing:
            raise ValueError(
                f"{argument}: missing {_plural(m.missing)} {list(m.missing)} of the detector's "
                f"schema ({self.source}: {_short(self.names)}); the input has {_short(names)}"
            )
        if extra and strict:
            raise ValueError(
                f"{option}: {argument} has {_plural(extra)} {list(extra)} not in the detector's "
                f"schema ({self.source}); drop them, or allow them (they are then ignored)"
            )
        return extra

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``{"version": 1, "names": [...]}``) that ``save`` writes."""
        return {"version": SCHEMA_VERSION, "names": list(self.names)}

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the schema as JSON (``{"version": 1, "names": [...]}``)."""
        p = pathlib.Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return p

    def save_beside(self, weights: str | os.PathLike) -> pathlib.Path:
        """Write the schema next to a weights file, as ``WEIGHTS.schema.json`` (read back by ``beside``)."""
        return self.save(sidecar_path(weights))

    @classmethod
    def load(cls, path: str | os.PathLike, name: str = "schema") -> FeatureSchema:
        """Read a schema written by ``save``; a ValueError naming ``name`` and the file otherwise."""
        p = pathlib.Path(path)
        if not p.is_file():
            raise ValueError(f"{name}: no such schema file {str(p)!r}")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{name}: cannot read the schema file {str(p)!r} as JSON ({exc})") from None
        names = data.get("names") if isinstance(data, dict) else None
        if not isinstance(names, list):
            raise ValueError(
                f"{name}: expected a JSON object with a list 'names' in {str(p)!r}; got {type(data).__name__}"
            )
        try:
            return cls(tuple(names), str(p))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: bad schema file {str(p)!r}: {exc}") from None

    @classmethod
    def beside(cls, path: str | os.PathLike | None) -> FeatureSchema | None:
        """The schema recorded next to a weights or model file (``PATH.schema.json``), or None."""
        if path is None or not isinstance(path, (str, os.PathLike)):
            return None
        sidecar = sidecar_path(path)
        return cls.load(sidecar, "schema") if sidecar.is_file() else None


def sidecar_path(path: str | os.PathLike) -> pathlib.Path:
    """Where the schema of the weights (or model file) ``path`` is recorded: ``PATH.schema.json``."""
    p = pathlib.Path(path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def warn_extra(extra: Sequence[str], argument: str, schema: FeatureSchema, stacklevel: int = 3) -> None:
    """One warning naming the columns of ``argument`` the schema does not know (they are ignored)."""
    if extra:
        warnings.warn(
            f"{argument}: ignored {_plural(extra)} {list(extra)} not in the detector's schema "
            f"({schema.source}); pass strict_columns=True to refuse them",
            ExtraColumnsWarning,
            stacklevel=stacklevel,
        )


def _plural(names: Sequence[Any]) -> str:
    return "column" if len(names) == 1 else "columns"


def _short(names: Sequence[Any], at_most: int = 12) -> str:
    names = [str(n) for n in names]
    return str(names) if len(names) <= at_most else f"{names[:at_most]}... ({len(names)} columns)"
