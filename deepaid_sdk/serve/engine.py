"""The served detector: built as ``deepaid explain`` builds it, records made by the job's own record builder.

A request's alerts become a ``pyarrow.Table`` of the feature columns; the explain input's ``to_records``
and ``add_sentences`` (the job's per-chunk path) make the records, so each is the record the file job
writes for that row, ids aside: a record's ``id`` is the alert's. An optional column (``needs``,
``changed_groups``) is in a record only where it has a value (the file job writes ``null`` in the rows
of a file where another row has one).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import attrs
import numpy as np

from deepaid_sdk.explain.columns import job_schema
from deepaid_sdk.explain.describe import normal_stats, now_ms, ocsf_context
from deepaid_sdk.explain.inputs import Chunk, ExplainInput
from deepaid_sdk.explain.layout import Layout
from deepaid_sdk.explain.records import OPTIONAL_COLUMNS
from deepaid_sdk.explain.sentences import NormalStats, add_sentences
from deepaid_sdk.explain.sources import feature_matrix, show_id
from deepaid_sdk.explain.spec import ExplainSpec
from deepaid_sdk.schema import FeatureSchema


@attrs.define
class ServeModel:
    """An interpreter and what its records need: the feature columns, the input, the normal ranges."""

    spec: ExplainSpec
    reader: ExplainInput
    interpreter: Any
    schema: FeatureSchema
    normal: NormalStats | None
    started_ms: int = attrs.field(factory=now_ms)

    @classmethod
    def load(cls, spec: ExplainSpec, schema: Any = None) -> ServeModel:
        """Build the interpreter of ``spec`` (the job's ``ExplainSpec.build``); the feature names come from
        ``schema``, ``WEIGHTS.schema.json``, ``--columns`` or ``--normal``'s header, as for a job."""
        reader = spec.input()
        if type(reader) is not ExplainInput:
            raise ValueError(
                f"serve: the {spec.preset} preset reads its own inputs ({reader.name}); deepaid serve takes "
                "feature rows (tabular-style presets) for now"
            )
        spec.check_options(reader)
        found = job_schema(schema, spec.model, spec.weights, spec.normal, spec.columns, None)
        if found is None and spec.columns:
            found = FeatureSchema(tuple(spec.columns), "--columns")
        if found is None:
            raise ValueError(
                "serve: the feature names are unknown: pass --schema FILE, --columns, or --normal FILE (its header)"
            )
        columns = list(found.names)
        interpreter = spec.build(columns, reader)
        reader.layout = Layout.of(interpreter.adapter.sample_shape, len(columns))
        if reader.layout.context:
            raise ValueError("serve: this detector reads windows of rows; deepaid serve explains single rows")
        return cls(spec, reader, interpreter, found, normal_stats(spec, reader, columns))

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/model`` answers."""
        adapter = self.interpreter.adapter
        threshold = getattr(adapter, "threshold", None)
        return {
            "preset": self.spec.preset,
            "options": json.loads(json.dumps(self.spec.options, default=str)),
            "k": self.spec.k,
            "threshold": None if threshold is None else float(threshold),
            "features": self.columns,
            "schema_source": self.schema.source,
        }

    def check(self, alerts: Sequence[dict[str, Any]]) -> np.ndarray:
        """The alerts' ``[n, D]`` feature matrix; a ValueError in the file job's words for a missing or extra
        feature, a non-number or a non-finite value."""
        import pyarrow as pa

        ids = np.array([a["id"] for a in alerts], dtype=object)
        for alert in alerts:
            names = list(alert["features"])
            try:
                self.schema.check(names, "input", strict=True, option="strict_columns")
            except ValueError as exc:
                raise ValueError(f"alert id={show_id(alert['id'])}: {exc}") from None
        table = pa.table({c: pa.array([a["features"][c] for a in alerts], pa.float64()) for c in self.columns})
        return feature_matrix(table, self.columns, ids, "alerts")

    def records(self, x: np.ndarray, ids: Sequence[Any]) -> list[dict[str, Any]]:
        """The file job's records of rows ``x`` (``[n, D]``), their ``id`` set to ``ids``."""
        import pyarrow as pa

        table = pa.table({c: x[:, i] for i, c in enumerate(self.columns)})
        chunk = Chunk(table, self.columns, None, 0, 0, self.spec.full)
        out = add_sentences(self.reader.to_records(self.interpreter, chunk), self.reader, self.normal).to_pylist()
        for record, given in zip(out, ids):
            record["id"] = given
            for name in OPTIONAL_COLUMNS:  # present where the batch has one: kept only where set, so a
                if name in record and record[name] is None:  # record does not depend on its batch
                    del record[name]
            if isinstance(record.get("details"), str):  # as the JSON lines file has it: an object
                record["details"] = json.loads(record["details"])
        return out

    def findings(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """OCSF Detection Findings of the alerts among ``records`` (``deepaid_sdk.explain.ocsf``)."""
        context = ocsf_context(self.spec.preset, self.reader.unit, self.started_ms)
        return [context.finding(r) for r in records if r.get("alert")]
