"""Output files: JSON lines or Parquet by extension (or OCSF findings as JSON lines with ``format="ocsf"``),
committed as part files then assembled atomically.

JSON lines are strict JSON (no NaN or infinity): a non-finite value is a ValueError naming the row's
id and the column.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Sequence

import numpy as np

from deepaid_sdk.explain.sources import file_format
from deepaid_sdk.optional import require

#: File extensions by output format.
OUTPUT_FORMATS: dict[str, tuple[str, ...]] = {"jsonl": (".jsonl", ".ndjson"), "parquet": (".parquet", ".pq")}
#: What ``--format`` takes: the record formats, and ``ocsf`` (OCSF Detection Findings, JSON lines).
FORMATS = ("jsonl", "parquet", "ocsf")


def output_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``jsonl``, ``parquet`` or ``ocsf``: ``fmt`` where given (checked against the extension), else from the
    file name; a ValueError listing what is accepted."""
    by_name = file_format(path, OUTPUT_FORMATS, "output")
    if fmt is None:
        return by_name
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}; got {fmt!r}")
    wanted = "jsonl" if fmt == "ocsf" else fmt
    if by_name != wanted:
        what = "OCSF findings are JSON lines" if fmt == "ocsf" else f"{fmt} output"
        raise ValueError(
            f"format: {what}: name the output {' or '.join(OUTPUT_FORMATS[wanted])}; got {str(path)!r} ({by_name})"
        )
    return fmt


def check_finite(table: Any) -> None:
    """Every float (or list of floats) in ``table`` is finite; else a ValueError naming row id and column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in table.column_names:
        col = table.column(name).combine_chunks()
        # A null (JSON null: no value, e.g. the old key of an inserted log key) is not a non-finite number.
        if pa.types.is_floating(col.type):
            values = col.to_numpy(zero_copy_only=False)
            bad = ~np.isfinite(values) & col.is_valid().to_numpy(zero_copy_only=False)
        elif pa.types.is_list(col.type) and pa.types.is_floating(col.type.value_type):
            flat_col = col.flatten()
            flat = flat_col.to_numpy(zero_copy_only=False)
            wrong = ~np.isfinite(flat) & flat_col.is_valid().to_numpy(zero_copy_only=False)
            if not wrong.any():
                continue
            parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
            bad = np.zeros(len(col), dtype=bool)
            bad[parents[wrong]] = True
        else:
            continue
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            ident = table.column("id")[row].as_py() if "id" in table.column_names else row
            raise ValueError(
                f"row id={ident!r}: column {name!r} is not finite ({table.column(name)[row].as_py()}); "
                "strict JSON has no NaN or infinity"
            )


def _replace(tmp: pathlib.Path, final: pathlib.Path) -> None:
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def write_part(table: Any, path: pathlib.Path, fmt: str, ocsf: Any = None) -> None:
    """Write one chunk's records to ``path`` atomically (a temporary file, fsync, rename); ``ocsf`` (an
    ``ocsf.OcsfContext``) turns the alerts into findings for ``fmt`` ``ocsf``."""
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "ocsf":
        from deepaid_sdk.explain.ocsf import write_findings

        if ocsf is None:
            raise ValueError("format: 'ocsf' needs the job's OcsfContext")
        check_finite(table)
        with tmp.open("w", encoding="utf-8") as fh:
            write_findings(ocsf.findings(table), fh)
    elif fmt == "jsonl":
        check_finite(table)
        with tmp.open("w", encoding="utf-8") as fh:
            for row in table.to_pylist():
                if isinstance(row.get("details"), str):  # a JSON object in the record, not a string holding one
                    row["details"] = json.loads(row["details"])
                fh.write(json.dumps(row, allow_nan=False, separators=(",", ":")))
                fh.write("\n")
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    else:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}; got {fmt!r}")
    _replace(tmp, path)


def assemble(parts: Sequence[pathlib.Path], output: pathlib.Path, fmt: str) -> None:
    """Concatenate the part files, in order, into ``output`` atomically (never a half-written output)."""
    tmp = output.with_name(output.name + ".tmp")
    if fmt in ("jsonl", "ocsf"):
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(1 << 24):
                        out.write(block)
    else:
        require("pyarrow", "files")
        import pyarrow.parquet as pq

        if not parts:
            raise ValueError("output: no records to write (the input has no rows)")
        # Parts may differ: a chunk without domain details, or a record field whose values were all null.
        schema = _unified_schema([pq.read_schema(part) for part in parts])
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                writer.write_table(_conform(pq.read_table(part), schema))
    _replace(tmp, output)


def _unified_schema(schemas: Sequence[Any]) -> Any:
    """One schema for every part: columns in first-seen order, null-typed columns widened."""
    import pyarrow as pa

    unified = pa.unify_schemas(schemas, promote_options="permissive")
    order = list(dict.fromkeys(name for schema in schemas for name in schema.names))
    return pa.schema([unified.field(name) for name in order])


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with ``schema``'s columns, in its order; a column the part lacks is null."""
    import pyarrow as pa

    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.table(columns, schema=schema)
