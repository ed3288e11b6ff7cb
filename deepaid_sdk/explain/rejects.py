"""``on_error="skip"``: rows that cannot be explained go to a rejects file, the rest are explained as usual.

A chunk that fails with a data error (``ValueError``/``TypeError``: an empty or non-finite value, a
fraction for a detector of whole numbers, ...) is split in halves until each failing row stands alone;
batch invariance makes the records of the halves those of the whole chunk. Each rejected row is one
JSON line: its row number in the input (from 0; a CSV's line is row + 2, after the header), its id where
an id column is given, and the reason.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Callable, Sequence

#: What ``on_error`` takes.
ON_ERROR = ("fail", "skip")
#: Exceptions that mean "this row's data", never a bug or a broken model.
DATA_ERRORS = (ValueError, TypeError)


def check_on_error(value: Any) -> str:
    if value not in ON_ERROR:
        raise ValueError(f"on_error: expected one of {ON_ERROR}; got {value!r}")
    return str(value)


def explain_or_reject(
    explain: Callable[[Any, int], Any], table: Any, first_row: int, id_column: str | None
) -> tuple[Any, list[dict[str, Any]]]:
    """``explain(table, first_row)``'s records, with the rows it cannot explain taken out as rejects."""
    import pyarrow as pa

    try:
        return explain(table, first_row), []
    except DATA_ERRORS as exc:
        if table.num_rows == 1:
            reject = {"row": int(first_row), "reason": str(exc)}
            if id_column is not None:  # the id exactly as its record would carry it
                from deepaid_sdk.explain.chunk import chunk_ids, plain_ids

                reject["id"] = plain_ids(chunk_ids(table, id_column, first_row)).tolist()[0]
            return None, [reject]
    half = table.num_rows // 2
    left, left_rejects = explain_or_reject(explain, table.slice(0, half), first_row, id_column)
    right, right_rejects = explain_or_reject(explain, table.slice(half), first_row + half, id_column)
    kept = [t for t in (left, right) if t is not None]
    records = None if not kept else kept[0] if len(kept) == 1 else pa.concat_tables(kept, promote_options="permissive")
    return records, left_rejects + right_rejects


def rejects_part(parts: pathlib.Path, index: int) -> pathlib.Path:
    return parts / f"rejects-{index:05d}.jsonl"


def write_rejects(rejects: Sequence[dict[str, Any]], path: pathlib.Path) -> None:
    """One JSON line per rejected row, written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for reject in rejects:
            fh.write(json.dumps(reject, allow_nan=False, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def assemble_rejects(parts: pathlib.Path, chunks: int, output: pathlib.Path) -> int:
    """Concatenate the chunks' rejects into ``output`` (written only when some row was rejected)."""
    found = [rejects_part(parts, i) for i in range(chunks) if rejects_part(parts, i).is_file()]
    lines = [line for p in found for line in p.read_text(encoding="utf-8").splitlines() if line]
    output.unlink(missing_ok=True)
    if lines:
        write_rejects([json.loads(line) for line in lines], output)
    return len(lines)
