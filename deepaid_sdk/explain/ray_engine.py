"""The Ray engine: Ray Data reads the file, an actor pool (one interpreter per worker) explains it.

The per-chunk function is the local engine's (``_Work.records``: the preset's input, then the record
fields). Ray Data keeps the input order
(``preserve_order``) and the driver commits the records chunk by chunk through the same part files and
manifest as the local engine, so a Ray job resumes like a local one and writes the same output.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from deepaid_sdk.explain.chunk import ROW_COLUMN
from deepaid_sdk.explain.sources import Source
from deepaid_sdk.optional import require
from deepaid_sdk.progress import progress


class ExplainActor:
    """One Ray worker: builds the interpreter once, then explains every batch it is given."""

    def __init__(self, work: Any) -> None:
        import torch

        torch.set_num_threads(1)
        self.work = work
        self.interpreter = work.build()

    def __call__(self, table: Any) -> Any:
        records = self.work.records(self.interpreter, table)
        # The row number travels with the records so the driver can check the order it commits.
        return records.append_column(ROW_COLUMN, table.column(ROW_COLUMN))


def _read(ray: Any, source: Source) -> Any:
    path = str(source.path)
    if source.format == "parquet":
        return ray.data.read_parquet(path)
    if source.format == "csv":
        return ray.data.read_csv(path)
    return ray.data.read_json(path, lines=True)


def _skip(done: int) -> Any:
    def keep(table: Any) -> Any:
        import pyarrow.compute as pc

        return table.filter(pc.greater_equal(table.column(ROW_COLUMN), done))

    return keep


def run_ray(work: Any, committer: Any, quiet: bool, *, address: str | None = None, workers: int | None = None) -> None:
    """Explain ``work.source`` on Ray Data and commit each chunk of records through ``committer``, in order."""
    ray = require("ray", "ray")
    require("ray.data", "ray")
    spec, source = work.spec, work.source
    work.build()  # fail here, with a clear message, rather than inside a worker
    if work.reader.context:
        raise ValueError(
            "engine: the ray engine explains one row per sample; a detector of windows of rows needs --engine local"
        )
    started_here = not ray.is_initialized()
    if started_here:
        if address is not None:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            n = workers or max(1, (os.cpu_count() or 2) - 1)
            ray.init(num_cpus=n + 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ds = _read(ray, source)
        total = ds.count()
        rows = ray.data.range(total).rename_columns({"id": ROW_COLUMN})
        with warnings.catch_warnings():
            # Ray deprecates zip (removal in 2.64, hence the pin in the ``ray`` extra): it relies on the order
            # that preserve_order above guarantees. It numbers the rows for ids and for skipping done rows.
            warnings.simplefilter("ignore")
            ds = ds.zip(rows)
        done = committer.manifest.chunks_done * spec.batch_size
        if done:
            ds = ds.map_batches(_skip(done), batch_format="pyarrow")
        pool = workers or max(1, int(ray.cluster_resources().get("CPU", 2)) - 1)
        ds = ds.map_batches(
            ExplainActor,
            fn_constructor_args=(work,),
            batch_size=spec.batch_size,
            batch_format="pyarrow",
            concurrency=pool,
            num_cpus=1,
        )
        expected = done
        with progress(total=total, initial=done, desc="explain (ray)", unit=work.reader.unit, quiet=quiet) as bar:
            for records in ds.iter_batches(batch_size=spec.batch_size, batch_format="pyarrow"):
                first = records.column(ROW_COLUMN)[0].as_py()
                if first != expected:
                    raise RuntimeError(f"ray engine: records arrived out of order (row {first}, expected {expected})")
                committer.commit(records.drop_columns([ROW_COLUMN]))
                expected += records.num_rows
                bar.update(records.num_rows)
        if expected != total:
            raise RuntimeError(f"ray engine: {expected} of {total} rows came back")
    finally:
        if started_here:
            ray.shutdown()
