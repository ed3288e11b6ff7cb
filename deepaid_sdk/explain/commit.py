"""What a job leaves behind as it goes: each chunk committed (its part, then the manifest), and the summary
of a finished job."""

from __future__ import annotations

import pathlib
from typing import Any, Sequence

import attrs

from deepaid_sdk.explain.manifest import Manifest
from deepaid_sdk.explain.rejects import rejects_part, write_rejects
from deepaid_sdk.explain.sinks import write_part


@attrs.frozen
class ExplainSummary:
    """What a finished explain job did."""

    output: str
    rows: int
    """Records in the output: one per sample (an input row, a window, or what the preset's input makes)."""
    alerts: int
    """Rows the detector flagged (score above the threshold)."""
    flipped: int
    """Alerts whose reference the detector judges normal (rows that are no alert are not counted)."""
    resumed_rows: int
    """Rows found done by an earlier, interrupted run and not explained again."""
    seconds: float
    engine: str
    columns: tuple[str, ...]
    unit: str = "row"
    """What one record stands for: ``row`` (or window), ``session``, ``edge``."""
    extra_columns: tuple[str, ...] = ()
    """Input columns not in the detector's schema (nor the id column): ignored."""
    schema: str | None = None
    """Where the schema the columns were matched to by name came from; None: taken by position."""
    rejected: int = 0
    """Input rows that could not be explained, written to ``rejects`` (``on_error="skip"``)."""
    rejects: str | None = None
    """The rejects file (JSON lines: row, id, reason), when some row was rejected."""
    k: int | None = None
    """The change budget given (None: the preset's default)."""
    options: dict[str, Any] = attrs.field(factory=dict)
    """The preset and input options given (``--option``)."""
    format: str = "jsonl"
    """What ``output`` holds: ``jsonl`` or ``parquet`` records, or ``ocsf`` findings (one per alert)."""
    normal_ranges: str | None = None
    """Where the sentences' normal ranges come from (the ``--normal`` rows' quantiles), or None."""

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain dict (``deepaid explain --json`` prints it)."""
        return attrs.asdict(self)

    def text(self) -> str:
        """The line ``deepaid explain`` prints: records, alerts, references judged normal, time, output."""
        resumed = f" ({self.resumed_rows} done before the resume)" if self.resumed_rows else ""
        extra = f"; ignored columns not in the schema: {list(self.extra_columns)}" if self.extra_columns else ""
        if self.rejected:
            extra += (
                f"; {self.rejected} {self.unit}{'s' if self.rejected != 1 else ''} could not be explained: "
                f"see {self.rejects}"
            )
        findings = f" ({self.alerts} OCSF Detection Findings, one per alert)" if self.format == "ocsf" else ""
        return (
            f"explained {self.rows} {self.unit}s{resumed}: {self.alerts} alerts, {self.flipped} of their "
            "references judged "
            f"normal; {self.seconds:.1f} s with setup ({self.engine}); wrote {self.output}{findings}{extra}"
        )


def part_path(parts: pathlib.Path, index: int, fmt: str) -> pathlib.Path:
    return parts / f"part-{index:05d}.{fmt}"


class Committer:
    """Writes each chunk's records as the next part, then the manifest (each atomically)."""

    def __init__(
        self, parts: pathlib.Path, manifest_path: pathlib.Path, manifest: Manifest, fmt: str, ocsf: Any = None
    ) -> None:
        self.parts, self.manifest_path, self.manifest, self.fmt = parts, manifest_path, manifest, fmt
        self.ocsf = ocsf
        """The job's ``ocsf.OcsfContext`` where it writes OCSF findings."""

    def commit(self, records: Any, rejects: Sequence[dict[str, Any]] = (), digest: str | None = None) -> None:
        """Commit one chunk: its records (None: every row rejected), its rejects, the digest of its input."""
        import pyarrow as pa
        import pyarrow.compute as pc

        m = self.manifest
        if rejects:
            write_rejects(rejects, rejects_part(self.parts, m.chunks_done))
        records = pa.table({}) if records is None else records
        write_part(records, part_path(self.parts, m.chunks_done, self.fmt), self.fmt, self.ocsf)
        counted = records.num_rows > 0
        self.manifest = attrs.evolve(
            m,
            chunks_done=m.chunks_done + 1,
            rows_done=m.rows_done + records.num_rows,
            alerts=m.alerts + (int(pc.sum(records.column("alert")).as_py() or 0) if counted else 0),
            flipped=m.flipped
            + (int(pc.sum(pc.and_(records.column("flipped"), records.column("alert"))).as_py() or 0) if counted else 0),
            rejected=m.rejected + len(rejects),
            chunk_digests=[*m.chunk_digests, digest] if digest is not None else [],
        )
        self.manifest.save(self.manifest_path)
