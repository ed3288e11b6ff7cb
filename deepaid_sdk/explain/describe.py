"""What a job settles once for its sentences and findings: the normal ranges, and the OCSF context.

Both are kept in the manifest (``normal_stats``, ``started_ms``), so a resumed job words its sentences and
stamps its findings as its first run did.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

from deepaid_sdk.explain.ocsf import OcsfContext
from deepaid_sdk.explain.sentences import NormalStats


def normal_stats(spec: Any, reader: Any, columns: Sequence[str]) -> NormalStats | None:
    """The ranges of the job's ``--normal`` rows per feature column (None without them, or for an input
    that takes none: DeepLog sessions, GL-GV edges word their records without)."""
    if spec.normal is None or not reader.accepts_normal:
        return None
    rows = spec.normal_rows(columns)
    if rows is None or rows.ndim != 2 or rows.shape[1] != len(columns):
        return None
    source = str(spec.normal) if isinstance(spec.normal, (str, os.PathLike)) else "normal rows"
    return NormalStats.of(rows, columns, source)


def normal_text(stats: NormalStats | None) -> str | None:
    """``normal.csv: 0.5%–99.5% quantiles of 500 rows`` (the summary's ``normal_ranges``), or None."""
    if stats is None:
        return None
    lo, hi = stats.quantiles
    return f"{stats.source}: {lo:g}%–{hi:g}% quantiles of {stats.rows} rows"


def now_ms() -> int:
    return int(time.time() * 1000)


def ocsf_context(preset: str, unit: str, started_ms: int) -> OcsfContext:
    """The findings' shared fields: the preset, the plugin that registered it (its distribution and
    version where installed), the job's start time and what one record stands for."""
    from importlib import metadata

    from deepaid_sdk.registry import registry

    reg = registry()
    provider = reg.get("interpreters", preset).provider
    dist = reg.plugins.get(provider)
    version = None
    if dist:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = None
    return OcsfContext(preset, dist or provider, version, started_ms, unit)
