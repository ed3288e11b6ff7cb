"""Output records of the explain job: one per input row, built column-wise from an ``InterpretationBatch``.

Schema (in this order): ``id``, ``score``, ``reference_score``, ``threshold``, ``alert``, ``flipped``,
``changed`` (feature names, most important first), ``anomaly_values``, ``reference_values``, ``steps``;
``reference`` (the whole reference, flattened) with ``full``; ``details`` (a JSON object of domain extras)
where the interpreter gives them. Extra per-record fields (for example the
Distiller's rule labels) are added by ``RecordField`` functions after these, never in the search.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import json

import numpy as np

from deepaid_sdk.optional import require
from deepaid_sdk.results import InterpretationBatch, json_value

#: Columns of every record, in order (``reference`` follows with ``full``).
RECORD_COLUMNS = ("id", "score", "reference_score", "threshold", "alert", "flipped", "changed",
                  "anomaly_values", "reference_values", "steps")

#: ``field(batch, ids) -> {column: values}``: extra per-record columns, one value per row.
RecordField = Callable[[InterpretationBatch, np.ndarray], dict[str, Sequence[Any]]]


def record_table(batch: InterpretationBatch, ids: np.ndarray, *, full: bool = False,
                 fields: Sequence[RecordField] = ()) -> Any:
    """The records of one chunk as a ``pyarrow.Table`` (``ids`` one per row of ``batch``)."""
    pa = require("pyarrow", "files")
    if len(ids) != len(batch):
        raise ValueError(f"ids: expected {len(batch)} ids; got {len(ids)}")
    columns: dict[str, Any] = {"id": pa.array(np.asarray(ids).tolist() if np.asarray(ids).dtype == object
                                              else np.asarray(ids))}
    records = batch.records(full=full)
    columns["score"] = pa.array(records.pop("score"), pa.float64())
    columns["reference_score"] = pa.array(records.pop("reference_score"), pa.float64())
    columns["threshold"] = pa.array(records.pop("threshold"), pa.float64())
    columns["alert"] = pa.array(records.pop("alert"), pa.bool_())
    columns["flipped"] = pa.array(records.pop("flipped"), pa.bool_())
    columns["changed"] = pa.array(records.pop("changed"), pa.list_(pa.string()))
    columns["anomaly_values"] = pa.array(records.pop("anomaly_values"), pa.list_(pa.float64()))
    columns["reference_values"] = pa.array(records.pop("reference_values"), pa.list_(pa.float64()))
    columns["steps"] = pa.array(records.pop("steps"), pa.int64())
    if full:
        columns["reference"] = pa.array(records.pop("reference"), pa.list_(pa.float64()))
    if batch.details:
        # Domain extras (a verdict, log templates, a graph path), as one JSON object per record.
        columns["details"] = pa.array([json.dumps(json_value(d, "details"), allow_nan=False, separators=(",", ":"))
                                       for d in batch.details], pa.string())
    for field in fields:
        for name, values in field(batch, np.asarray(ids)).items():
            if name in columns:
                raise ValueError(f"fields: column {name!r} is already in the record")
            if len(values) != len(batch):
                raise ValueError(f"fields: column {name!r} has {len(values)} values for {len(batch)} rows")
            columns[name] = pa.array(list(values))
    return pa.table(columns)
