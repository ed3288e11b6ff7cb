"""The per-chunk function every engine runs: a table of input rows in, a table of records out."""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np

from deepaid_sdk.constraints import max_changes
from deepaid_sdk.explain.layout import Layout
from deepaid_sdk.explain.records import record_table
from deepaid_sdk.explain.sources import feature_matrix
from deepaid_sdk.groups import group_budget
from deepaid_sdk.interpreter import Interpreter

#: Column the Ray engine adds to carry each row's number in the input.
ROW_COLUMN = "__deepaid_row"


def chunk_ids(table: Any, id_column: str | None, first_row: int) -> np.ndarray:
    """Record ids: the id column's values, or row numbers in the input (from 0)."""
    if id_column is not None:
        import pyarrow as pa

        col = table.column(id_column)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            # A JSON reader keeps bytes that are not UTF-8 in a string column: read them as bytes (plain_ids
            # decodes them, escaping only the bad bytes), so one bad id cannot fail the chunk.
            col = col.cast(pa.binary())
        return np.asarray(col.to_pylist(), dtype=object)
    if ROW_COLUMN in table.column_names:
        return table.column(ROW_COLUMN).to_numpy().astype(np.int64)
    return np.arange(first_row, first_row + table.num_rows, dtype=np.int64)


def explain_chunk(
    interpreter: Interpreter,
    table: Any,
    columns: Sequence[str],
    *,
    id_column: str | None,
    first_row: int = 0,
    full: bool = False,
    layout: Layout | None = None,
    context_rows: int = 0,
) -> Any:
    """Explain the samples of ``table`` (a ``pyarrow.Table``) and return their records as a ``pyarrow.Table``.

    ``first_row`` is the input row number of the table's first row; with a windowed ``layout`` its first
    ``context_rows`` rows only complete the first windows (they were explained with the chunk before).
    """
    layout = layout or Layout()
    ids = chunk_ids(table, id_column, first_row)
    x = feature_matrix(table, list(columns), ids)
    samples, sample_ids = layout.samples(x, ids, context_rows)
    if not len(samples):
        raise ValueError(f"input: no sample in this chunk (fewer rows than the detector's window of {layout.window})")
    if not interpreter.adapter.input_dtype.is_floating_point:
        # Integer inputs (log key ids): whole numbers only, passed as integers.
        fractional = samples != np.round(samples)
        if fractional.any():
            row = int(np.argwhere(fractional.reshape(len(samples), -1))[0][0])
            raise ValueError(
                f"input: row id={sample_ids[row]!r}: the detector takes whole numbers "
                f"({interpreter.adapter.input_dtype}); got a fraction"
            )
        samples = samples.astype(np.int64)
    batch = interpreter.interpret_batch(samples)
    if batch.feature_names is None and batch.anomalies.shape[-1] == len(columns) == x.shape[1]:
        batch = attrs.evolve(batch, feature_names=list(columns))
    if id_column is not None:
        sample_ids = plain_ids(sample_ids)
    return with_needs_column(record_table(batch, sample_ids, full=full), interpreter)


def with_needs_column(table: Any, interpreter: Interpreter) -> Any:
    """``table`` with a ``needs`` column (null where the search gave none) whenever a change budget applies.

    The search reports ``needs`` only for rows it searched, so a chunk of rows the detector accepts would
    otherwise lack the key that the other chunks' records carry: a record's keys must not depend on its chunk.
    """
    import pyarrow as pa

    if "needs" in table.column_names:
        return table
    if max_changes(interpreter.constraints) is None and group_budget(interpreter.constraints) is None:
        return table
    before = "changed_groups" if "changed_groups" in table.column_names else "steps"
    return table.add_column(table.column_names.index(before) + 1, "needs", pa.nulls(table.num_rows, pa.string()))


def plain_ids(ids: np.ndarray) -> np.ndarray:
    """Ids of one type for Arrow: ints stay ints, anything else becomes strings.

    An id column holding bytes that are not UTF-8 (the reader then gives every id of the column as bytes)
    keeps each id exactly: UTF-8 ids decode as they are, and each byte that is not UTF-8 is written as the
    escape ``\\xHH`` (Python's ``backslashreplace``), so ``b"a\\xff3"`` becomes the text ``a\\xff3``.
    """
    if ids.dtype.kind in "iu" or all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in ids):
        return ids.astype(np.int64)
    return np.asarray(
        [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v) for v in ids], dtype=object
    )
