"""Which input columns an explain job feeds the model, matched by name to the detector's schema.

The schema (names in the model's order) comes, first found first: ``schema=`` / ``--schema FILE``; the
file recorded beside the weights or model file (``WEIGHTS.schema.json``); ``--columns``; the normal rows'
columns (the ``--normal`` file's header or a DataFrame's columns: every numeric column but the id).
The input's columns are then taken by name in the schema's order, so a file whose columns are in
another order gives the same records; a missing column is an error naming it; extra columns are
reported (``ExplainSummary.extra_columns``) and ignored, or refused with ``strict_columns``.
Without any schema the job keeps taking the input's numeric columns in their order (``select_columns``).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import attrs

from deepaid_sdk.checks import table_columns
from deepaid_sdk.explain.inputs import ExplainInput
from deepaid_sdk.explain.sources import Source, numeric_columns, select_columns
from deepaid_sdk.schema import FeatureSchema


@attrs.frozen
class ColumnPlan:
    """The feature columns of a job, where their order came from, and the input columns left out."""

    columns: tuple[str, ...]
    """Input columns the samples are made of, in the model's order."""
    schema: FeatureSchema | None
    """The detector's schema the input was matched to; None: taken from the input by position."""
    extra: tuple[str, ...] = ()
    """Input columns not in the schema (nor the id column): ignored."""

    def record(self) -> dict[str, Any]:
        """The schema as the manifest records it (the columns used, where no schema was known)."""
        if self.schema is None:
            return {"names": list(self.columns), "source": "the input's numeric columns (no schema)"}
        return {"names": list(self.schema.names), "source": self.schema.source}


def job_schema(
    schema: Any, model: Any, weights: Any, normal: Any, columns: Sequence[str] | None, id_column: str | None
) -> FeatureSchema | None:
    """The detector's schema for a job, from the first source that has one (see the module docstring)."""
    recorded = FeatureSchema.of(schema, "schema")
    if recorded is None:
        recorded = FeatureSchema.beside(weights) or FeatureSchema.beside(model if _is_file(model) else None)
    if recorded is not None:
        if columns:
            _check_columns_against(recorded, columns)
        if isinstance(normal, (str, os.PathLike)) or table_columns(normal) is not None:
            recorded.check(_normal_names(normal), "normal")  # before any work: a missing column is named
        return recorded
    if normal is None:
        return None  # no schema: ``--columns`` or the input's numeric columns, as given
    if isinstance(normal, (str, os.PathLike)):
        source = _normal_source(normal)
        names, numeric, where = list(source.schema.names), numeric_columns(source.schema), f"--normal {normal}"
    elif table_columns(normal) is not None:
        names = numeric = table_columns(normal) or []
        where = "normal's columns"
    else:
        return None  # an array of normal rows names no column
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"columns: not in the normal rows ({where}): {missing}; they have {names}")
        return FeatureSchema(tuple(columns), "--columns")
    chosen = [c for c in numeric if c != id_column]
    if not chosen:
        raise ValueError(f"normal: no numeric column in the normal rows ({where}); they have {names}")
    return FeatureSchema(tuple(chosen), where)


def plan_columns(
    reader: ExplainInput,
    input_schema: Any,
    schema: FeatureSchema | None,
    columns: Sequence[str] | None,
    id_column: str | None,
    strict: bool,
) -> ColumnPlan:
    """The input's feature columns: matched to ``schema`` by name where there is one (rows input)."""
    by_rows = type(reader).select is ExplainInput.select  # inputs of their own (log lines, edges) choose
    if schema is None or not by_rows:
        return ColumnPlan(tuple(reader.select(input_schema, list(columns) if columns else None, id_column)), None)
    names = list(input_schema.names)
    if id_column is not None and id_column not in names:
        raise ValueError(f"id_column: no column {id_column!r} in the input; columns: {names}")
    if columns:
        select_columns(input_schema, list(columns), id_column)  # each named column is in the input
    extra = schema.check(
        names, "input", strict=strict, ignore=[id_column] if id_column else [], option="strict_columns"
    )
    return ColumnPlan(tuple(select_columns(input_schema, list(schema.names), id_column)), schema, extra)


def _check_columns_against(schema: FeatureSchema, columns: Sequence[str]) -> None:
    """``--columns`` must name the recorded schema's columns (in any order: they are taken by name)."""
    unknown = [c for c in columns if c not in set(schema.names)]
    left = [c for c in schema.names if c not in set(columns)]
    if unknown or left:
        detail = "; ".join(
            part for part in (f"not in it: {unknown}" if unknown else "", f"left out: {left}" if left else "") if part
        )
        raise ValueError(f"columns: expected the detector's schema ({schema.source}: {list(schema.names)}); {detail}")


def _normal_names(normal: Any) -> list[str]:
    """Column names of the normal rows: a file's header or a table's columns."""
    if isinstance(normal, (str, os.PathLike)):
        return list(_normal_source(normal).schema.names)
    return table_columns(normal) or []


def _normal_source(normal: Any) -> Source:
    """The ``--normal`` file, opened for its header; errors name ``normal``, not the input."""
    if not os.path.isfile(normal):
        raise ValueError(f"normal: no such file {str(normal)!r}")
    try:
        source = Source(normal, 1, name="normal")
        _ = source.schema  # read the header now, so a bad file is named here
        return source
    except ValueError as exc:
        message = str(exc)
        raise ValueError(
            message if message.startswith("normal:") else f"normal: {message.removeprefix('input: ')}"
        ) from None


def _is_file(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike)) and os.path.isfile(model)
