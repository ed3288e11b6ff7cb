"""Output records of the explain job: one per input row, built column-wise from an ``InterpretationBatch``.

Schema (in this order): ``id``, ``score``, ``reference_score``, ``threshold``, ``alert``, ``flipped``,
``changed`` (feature names, most important first), ``anomaly_values``, ``reference_values``, ``steps``;
``reference`` (the whole reference, flattened) with ``full``; ``details`` (a JSON object of domain extras)
where the domain gives them. Extra per-record fields (for example the Distiller's rule labels) are
added by ``RecordField`` functions after these, from the records, never in the search.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from deepaid_sdk.optional import require
from deepaid_sdk.results import InterpretationBatch, json_value

#: Columns of every record, in order (``reference`` follows with ``full``).
RECORD_COLUMNS = (
    "id",
    "score",
    "reference_score",
    "threshold",
    "alert",
    "flipped",
    "changed",
    "anomaly_values",
    "reference_values",
    "steps",
)

#: Columns a record has where the adapter declares feature groups (``changed_groups``) or a change
#: budget applied (``needs``: the size that reaches normal, where the budget did not).
OPTIONAL_COLUMNS = ("changed_groups", "needs")

#: ``field(records) -> {column: values}``: extra per-record columns from a chunk's records (a
#: ``pyarrow.Table`` with the columns above), one value per record, whatever the domain.
RecordField = Callable[[Any], dict[str, Sequence[Any]]]


def records_table(
    ids: np.ndarray, records: dict[str, list[Any]], details: Sequence[Mapping[str, Any]] | None = None
) -> Any:
    """The records of one chunk as a ``pyarrow.Table`` from column-wise ``records`` (``RECORD_COLUMNS`` but
    ``id``, plus ``reference`` where given) and per-record ``details`` (written as one JSON object each)."""
    pa = require("pyarrow", "files")
    missing = [c for c in RECORD_COLUMNS[1:] if c not in records]
    if missing:
        raise ValueError(f"records: missing columns {missing}")
    ids = np.asarray(ids)
    n = len(records["score"])
    if len(ids) != n:
        raise ValueError(f"ids: expected {n} ids; got {len(ids)}")
    types = {
        "score": pa.float64(),
        "reference_score": pa.float64(),
        "threshold": pa.float64(),
        "alert": pa.bool_(),
        "flipped": pa.bool_(),
        "changed": pa.list_(pa.string()),
        "anomaly_values": pa.list_(pa.float64()),
        "reference_values": pa.list_(pa.float64()),
        "steps": pa.int64(),
        "reference": pa.list_(pa.float64()),
        "changed_groups": pa.list_(pa.string()),
        "needs": pa.string(),
    }
    columns: dict[str, Any] = {"id": pa.array(ids.tolist() if ids.dtype == object else ids)}
    for name in (*RECORD_COLUMNS[1:], *OPTIONAL_COLUMNS, "reference"):
        if name in records:
            columns[name] = pa.array(records[name], types[name])
    if details:
        # Domain extras (a verdict, log templates, a graph path), as one JSON object per record.
        columns["details"] = pa.array(
            [json.dumps(json_value(d, "details"), allow_nan=False, separators=(",", ":")) for d in details], pa.string()
        )
    return pa.table(columns)


def record_table(batch: InterpretationBatch, ids: np.ndarray, *, full: bool = False) -> Any:
    """The records of one chunk's ``InterpretationBatch`` as a ``pyarrow.Table`` (``ids`` one per row)."""
    if len(ids) != len(batch):
        raise ValueError(f"ids: expected {len(batch)} ids; got {len(ids)}")
    return records_table(ids, batch.records(full=full), batch.details)


def add_fields(table: Any, fields: Sequence[RecordField]) -> Any:
    """``table`` with the columns of every ``RecordField`` appended (each checked: new name, one value per record)."""
    import pyarrow as pa

    for field in fields:
        for name, values in field(table).items():
            if name in table.column_names:
                raise ValueError(f"fields: column {name!r} is already in the record")
            if len(values) != table.num_rows:
                raise ValueError(f"fields: column {name!r} has {len(values)} values for {table.num_rows} records")
            table = table.append_column(name, pa.array(list(values)))
    return table


def record_dicts(table: Any) -> list[dict[str, Any]]:
    """The records as dicts, ``details`` read back from JSON (what the Distiller's ``as_alerts`` takes)."""
    out = table.to_pylist()
    for record in out:
        if isinstance(record.get("details"), str):
            record["details"] = json.loads(record["details"])
    return out
