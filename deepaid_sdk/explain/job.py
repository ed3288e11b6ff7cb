"""The explain job: a source read in chunks, the interpreter on each, parts and a manifest committed.

Output is committed chunk by chunk: ``OUTPUT.parts/part-NNNNN.EXT`` then ``OUTPUT.manifest.json``, each
written atomically. When every chunk is done the parts are concatenated into ``OUTPUT`` (atomically)
and removed. ``resume=True`` checks the manifest (same input, same options) and skips done chunks, so
after Ctrl-C, SIGTERM or SIGKILL the final output still has every input row exactly once.
"""

from __future__ import annotations

import pathlib
import shutil
import time
from typing import Any, Iterator, Sequence

import attrs

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.explain.columns import ColumnPlan, job_schema, plan_columns
from deepaid_sdk.explain.commit import Committer, ExplainSummary, part_path
from deepaid_sdk.explain.describe import normal_stats, normal_text, now_ms, ocsf_context
from deepaid_sdk.explain.digests import changed_chunk, chunk_digest
from deepaid_sdk.explain.inputs import Chunk, ExplainInput
from deepaid_sdk.explain.manifest import Manifest
from deepaid_sdk.explain.outputs import JobPaths, check_output, clean_failed
from deepaid_sdk.explain.records import RecordField, add_fields
from deepaid_sdk.explain.rejects import assemble_rejects, check_on_error, explain_or_reject
from deepaid_sdk.explain.sentences import NormalStats, add_sentences
from deepaid_sdk.explain.sinks import assemble, output_format
from deepaid_sdk.explain.sources import DEFAULT_BLOCK_SIZE, Source, fingerprint, numeric_columns
from deepaid_sdk.explain.spec import ExplainSpec, check_input
from deepaid_sdk.progress import progress

ENGINES = ("local", "ray")


@attrs.frozen
class Engine:
    """Where the chunks run: ``local`` (a loop on this machine) or ``ray`` (Ray Data over an actor pool, at
    ``address`` or on a local cluster of ``workers`` actors)."""

    name: str = "local"
    address: str | None = None
    workers: int | None = attrs.field(
        default=None, converter=lambda w: None if w is None else check_positive_int(w, "workers")
    )

    def __attrs_post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"engine: expected one of {ENGINES}; got {self.name!r}")


@attrs.frozen
class ExplainJob:
    """Where an explain job reads and writes, and how it treats what it finds (the records' content is the
    ``ExplainSpec``'s)."""

    input: pathlib.Path = attrs.field(converter=check_input)
    output: pathlib.Path = attrs.field(converter=pathlib.Path)
    fields: tuple[RecordField, ...] = attrs.field(default=(), converter=lambda v: tuple(v))
    schema: Any = None
    """The detector's feature names: a list, a ``FeatureSchema`` or its JSON file (see ``explain.columns``)."""
    strict_columns: bool = False
    overwrite: bool = False
    resume: bool = False
    on_error: str = attrs.field(default="fail", converter=check_on_error)
    block_size: int = DEFAULT_BLOCK_SIZE
    quiet: bool = False
    format: str | None = None
    """``jsonl``, ``parquet`` (default: by the output's extension) or ``ocsf`` (findings, JSON lines)."""


def explain_file(
    preset: str,
    model: Any,
    input: str | pathlib.Path,
    output: str | pathlib.Path,
    *,
    weights: str | pathlib.Path | None = None,
    model_args: dict[str, Any] | None = None,
    allow_pickle: bool = False,
    threshold: float | None = None,
    normal: Any = None,
    percentile: float = 99.0,
    k: int | None = None,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    batch_size: int = 1024,
    full: bool = False,
    options: dict[str, Any] | None = None,
    device: str = "cpu",
    resume: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    fields: Sequence[RecordField] = (),
    schema: Any = None,
    strict_columns: bool = False,
    overwrite: bool = False,
    on_error: str = "fail",
    block_size: int = DEFAULT_BLOCK_SIZE,
    format: str | None = None,
) -> ExplainSummary:
    """Explain every row of the ``input`` file with preset ``preset`` and write one record per row to ``output``.

    The keyword form of ``run_job(ExplainSpec(...), ExplainJob(...), Engine(...))``, which takes the
    same values as three records. ``model`` is ``package.module:factory`` (with ``weights`` and
    ``model_args``), a TorchScript / ``torch.export`` (.pt2) / ONNX file, or an ``nn.Module``. Give
    ``threshold`` or ``normal`` rows (a file or an array) with ``percentile``. Memory is bounded by
    ``batch_size`` rows; ``resume`` continues an interrupted job; ``engine="ray"`` runs the chunks on Ray
    Data (``ray_address`` or a local cluster with ``workers`` actors). ``fields`` add per-record columns
    (see ``deepaid_sdk.explain.records``). Columns are matched by name to the detector's schema:
    ``schema`` (names, a ``FeatureSchema`` or its JSON file), else ``WEIGHTS.schema.json`` beside the
    weights, else the normal rows' columns (see ``deepaid_sdk.explain.columns``); ``strict_columns``
    refuses input columns the schema does not know. An existing ``output`` is refused unless
    ``overwrite`` (or ``resume`` of the job that wrote it); ``on_error="skip"`` writes the rows that
    cannot be explained to ``OUTPUT.rejects.jsonl`` instead of stopping (``deepaid_sdk.explain.rejects``).
    A failed job removes what it created, or keeps its committed chunks and says how to resume. Every
    record has a ``sentence`` (``deepaid_sdk.explain.sentences``); ``format="ocsf"`` writes one OCSF
    Detection Finding per alert instead of the records (``deepaid_sdk.explain.ocsf``).
    """
    where = Engine(engine, ray_address, workers)
    spec = ExplainSpec(
        preset=preset,
        model=model,
        weights=weights,
        model_args=dict(model_args or {}),
        allow_pickle=allow_pickle,
        threshold=threshold,
        normal=normal,
        percentile=percentile,
        k=k,
        id_column=id_column,
        columns=columns,
        batch_size=batch_size,
        full=full,
        options=dict(options or {}),
        device=device,
    )
    job = ExplainJob(
        input, output, fields, schema, strict_columns, overwrite, resume, on_error, block_size, quiet, format
    )
    return run_job(spec, job, where)


@attrs.frozen
class _Plan:
    """What a job settled before any work: its input, source, columns, paths and fingerprints."""

    reader: ExplainInput
    source: Source
    columns: ColumnPlan
    paths: JobPaths
    fmt: str
    job_fingerprint: dict[str, Any]
    input_fingerprint: dict[str, Any]


def _plan(spec: ExplainSpec, job: ExplainJob, engine: Engine) -> _Plan:
    """Check the output, the options and the columns; nothing is written yet."""
    if job.on_error == "skip" and engine.name != "local":
        raise ValueError("on_error: 'skip' runs on the local engine; use --engine local, or fix the rows")
    fmt = output_format(job.output, job.format)
    paths = JobPaths.of(job.output)
    check_output(
        paths,
        reads=[
            ("input", job.input),
            ("normal", spec.normal),
            ("weights", spec.weights),
            ("model", spec.model),
            ("schema", job.schema),
        ],
        overwrite=job.overwrite,
        resume=job.resume,
    )
    reader = spec.input()
    spec.check_options(reader)
    source = reader.source(spec, job.input, spec.batch_size, job.block_size)
    if source.format == "lines" and not reader.reads_lines:
        raise ValueError(
            f"input: {str(job.input)!r} is read as text lines (.log/.txt), which the {spec.preset} "
            "preset does not take: its rows are tables; name a CSV file .csv (or give JSON lines or "
            "Parquet)"
        )
    plan = plan_columns(
        reader,
        source.schema,
        job_schema(job.schema, spec.model, spec.weights, spec.normal, spec.columns, spec.id_column),
        spec.columns,
        spec.id_column,
        job.strict_columns,
    )
    cols = list(plan.columns)
    source = source.like(floats=tuple(c for c in cols if c in set(numeric_columns(source.schema))))
    job_fp = {**spec.fingerprint(cols, fmt, job.fields, reader), "schema": plan.record()}
    return _Plan(reader, source, plan, paths, fmt, job_fp, fingerprint(job.input))


def run_job(spec: ExplainSpec, job: ExplainJob, engine: Engine = Engine()) -> ExplainSummary:
    """Explain ``job.input`` with ``spec`` on ``engine``, committing chunk by chunk (see the module docstring)."""
    plan = _plan(spec, job, engine)
    cols = list(plan.columns.columns)
    started = time.perf_counter()
    stages = type(plan.reader).stage is not ExplainInput.stage
    digests = None if stages or engine.name != "local" else (lambda committed: changed_chunk(plan.source, committed))
    manifest_path, parts = plan.paths.manifest, plan.paths.parts
    resuming = job.resume and manifest_path.is_file()
    stats = None if resuming else normal_stats(spec, plan.reader, cols)  # a bad --normal: nothing written yet
    manifest = _start(
        manifest_path, parts, job.output, plan.input_fingerprint, plan.job_fingerprint, job.resume, plan.fmt, digests
    )
    if not manifest.started_ms:  # a fresh job: its normal ranges and start time, settled once in the manifest
        manifest = attrs.evolve(manifest, normal_stats=None if stats is None else stats.to_dict(), started_ms=now_ms())
        manifest.save(manifest_path)
    normal = None if manifest.normal_stats is None else NormalStats.from_dict(manifest.normal_stats)
    resumed, done_before = manifest.rows_done, manifest.chunks_done
    ocsf = ocsf_context(spec.preset, plan.reader.unit, manifest.started_ms) if plan.fmt == "ocsf" else None
    committer = Committer(parts, manifest_path, manifest, plan.fmt, ocsf)
    work = _Work(
        spec, plan.reader, plan.source, cols, spec.id_column, job.fields, job.on_error, digests is not None, normal
    )
    try:
        manifest = _run(manifest, committer, work, engine, job.quiet, job.output, plan.fmt)
    except BaseException as exc:
        how = clean_failed(
            plan.paths,
            committed_before=done_before,
            committed_now=committer.manifest.chunks_done,
            created_parts=not resuming,
        )
        if how is not None and isinstance(exc, (ValueError, TypeError)):
            raise type(exc)(f"{exc}; {how}") from exc
        raise
    rejected = assemble_rejects(parts, manifest.chunks_done, plan.paths.rejects)
    shutil.rmtree(parts, ignore_errors=True)
    return ExplainSummary(
        output=str(job.output),
        rows=manifest.rows_done,
        alerts=manifest.alerts,
        flipped=manifest.flipped,
        resumed_rows=resumed,
        seconds=time.perf_counter() - started,
        engine=engine.name,
        columns=tuple(cols),
        unit=plan.reader.unit,
        extra_columns=plan.columns.extra,
        schema=None if plan.columns.schema is None else plan.columns.schema.source,
        rejected=rejected,
        rejects=str(plan.paths.rejects) if rejected else None,
        k=spec.k,
        options=dict(spec.options),
        format=plan.fmt,
        normal_ranges=normal_text(normal),
    )


def _run(
    manifest: Manifest, committer: Committer, work: _Work, engine: Engine, quiet: bool, out: pathlib.Path, fmt: str
) -> Manifest:
    """Explain the chunks not yet done, assemble the output; the finished manifest."""
    parts, manifest_path = committer.parts, committer.manifest_path
    if not manifest.complete:
        staged = work.reader.stage(work.source, work.columns, work.id_column, parts, quiet)
        if staged is not None:
            work = attrs.evolve(
                work,
                source=Source(staged.path, work.spec.batch_size, block_size=work.source.block_size),
                columns=list(staged.columns),
                id_column=staged.id_column,
            )
        if engine.name == "local":
            _run_local(work, committer, quiet)
        else:
            from deepaid_sdk.explain.ray_engine import run_ray

            run_ray(work, committer, quiet, address=engine.address, workers=engine.workers)
        manifest = committer.manifest
        assemble([part_path(parts, i, fmt) for i in range(manifest.chunks_done)], out, fmt)
        manifest = attrs.evolve(manifest, complete=True)
        manifest.save(manifest_path)
    elif not out.is_file():
        raise ValueError(
            f"resume: the manifest says the job is complete but {str(out)!r} is missing; run again without --resume"
        )
    return manifest


@attrs.frozen
class _Work:
    """What every engine runs: the spec, its input, the (possibly staged) source, columns and record fields."""

    spec: ExplainSpec
    reader: ExplainInput
    source: Source
    columns: list[str]
    id_column: str | None
    fields: tuple[RecordField, ...]
    on_error: str = "fail"
    digests: bool = False
    """Record a digest of each chunk's input rows (a resume after a fix past them checks only those)."""
    normal: NormalStats | None = None
    """The normal ranges the records' sentences quote."""

    def build(self) -> Any:
        """The interpreter, with the input settled on how rows become samples."""
        interpreter = self.spec.build(self.columns, self.reader)
        self.reader.start(interpreter, self.source, self.columns)
        return interpreter

    def records(self, interpreter: Any, table: Any, first_row: int = 0, context_rows: int = 0) -> Any:
        """The per-chunk function of every engine: the input's records, the record fields, the sentences."""
        chunk = Chunk(table, self.columns, self.id_column, first_row, context_rows, self.spec.full)
        return add_sentences(
            add_fields(self.reader.to_records(interpreter, chunk), self.fields), self.reader, self.normal
        )


def _start(
    manifest_path: pathlib.Path,
    parts: pathlib.Path,
    out: pathlib.Path,
    input_fp: dict[str, Any],
    job_fp: dict[str, Any],
    resume: bool,
    fmt: str,
    changed_chunk: Any = None,
) -> Manifest:
    """The manifest to continue from: the old one on resume (checked), else a fresh job."""
    if resume and manifest_path.is_file():
        manifest = Manifest.load(manifest_path)
        manifest.check_same_job(input_fp, job_fp, manifest_path, changed_chunk)
        if manifest.input != input_fp:  # changed only past the committed chunks (a fixed row): go on from there
            manifest = attrs.evolve(manifest, input=input_fp)
            manifest.save(manifest_path)
        if not manifest.complete:
            missing = [i for i in range(manifest.chunks_done) if not part_path(parts, i, fmt).is_file()]
            if missing:
                raise ValueError(
                    f"resume: part files {missing[:5]} listed in {str(manifest_path)!r} are missing; "
                    "run again without --resume"
                )
        return manifest
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    manifest = Manifest(input=input_fp, options=job_fp)
    manifest.save(manifest_path)
    return manifest


def _chunks_with_progress(source: Source, skip_rows: int, quiet: bool, unit: str = "row") -> Iterator[Any]:
    from deepaid_sdk.progress import progress_enabled

    total = source.count_rows() if progress_enabled(quiet) else None
    with progress(total=total, initial=skip_rows, desc="explain", unit=unit, quiet=quiet) as bar:
        for table in source.chunks(skip_rows):
            yield table
            bar.update(table.num_rows)


def _run_local(work: _Work, committer: Committer, quiet: bool) -> None:
    import pyarrow as pa

    interpreter = work.build()
    context = work.reader.context
    if context + 1 > work.spec.batch_size:
        raise ValueError(
            f"batch_size: expected at least the detector's window ({context + 1} rows); got {work.spec.batch_size}"
        )
    first = committer.manifest.chunks_done * work.spec.batch_size  # input rows of the done chunks
    if work.on_error == "skip" and context:
        raise ValueError(
            f"on_error: 'skip' needs one row per sample; this detector reads windows of {context + 1} "
            "rows, and a window with a bad row cannot be explained without it: fix the rows"
        )
    tail = _context(work.source, first, context)
    for table in _chunks_with_progress(work.source, first, quiet, work.reader.unit):
        whole = pa.concat_tables([tail, table]) if tail is not None else table
        held = 0 if tail is None else tail.num_rows
        digest = chunk_digest(table) if work.digests else None
        if work.on_error == "skip":
            records, rejects = explain_or_reject(
                lambda t, row: work.records(interpreter, t, first_row=row), whole, first, work.id_column
            )
            committer.commit(records, rejects, digest)
        else:
            committer.commit(work.records(interpreter, whole, first_row=first - held, context_rows=held), digest=digest)
        first += table.num_rows
        if context:
            tail = whole.slice(max(0, whole.num_rows - context))


def _context(source: Source, offset: int, rows: int) -> Any:
    """The ``rows`` input rows before ``offset`` (windows of a resumed job need them), or None."""
    if not rows or not offset:
        return None
    start = max(0, offset - rows)
    return next(source.like(offset - start).chunks(start))
