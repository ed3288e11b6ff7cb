"""The edge-list text format of login events: one ``time src dst`` per line.

Blank lines and ``#`` comments are skipped; every malformed line is reported with its line number.
``AuthGraph.from_edge_list`` reads a training graph this way, and the ``glgv`` explain input reads
files of alert edges with the same parser, chunk by chunk.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np


def read_edge_list(
    source: str | os.PathLike[str] | Iterable[str], *, delimiter: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(time, src, dst)`` arrays from text lines ``time src dst``; every malformed line is reported.

    ``source`` is a path or an iterable of lines; blank lines and ``#`` comments are skipped;
    fields are split on ``delimiter`` (default: any whitespace, or commas for a ``.csv`` path).
    """
    if isinstance(source, (str, os.PathLike)):
        if delimiter is None and str(source).endswith(".csv"):
            delimiter = ","
        with open(source, encoding="utf-8") as handle:
            return _parse_lines(handle, delimiter)
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise TypeError(f"source: expected a path or an iterable of lines; got {type(source).__name__}")
    return _parse_lines(source, delimiter)


def parse_edge_lines(
    lines: Iterable[str], delimiter: str | None, *, first: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(line numbers, time, src, dst)`` of the events in ``lines`` (numbered from ``first``) and a
    description of each malformed line; blank lines and ``#`` comments are skipped."""
    numbers: list[int] = []
    times: list[float] = []
    src: list[str] = []
    dst: list[str] = []
    bad: list[str] = []
    for number, line in enumerate(lines, start=first):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(delimiter)]
        if len(fields) != 3 or not fields[1] or not fields[2]:
            bad.append(f"line {number}: {text[:60]!r} ({len(fields)} fields)")
            continue
        try:
            t = float(fields[0])
        except ValueError:
            bad.append(f"line {number}: {text[:60]!r} (time {fields[0][:20]!r} is not a number)")
            continue
        if not np.isfinite(t):
            bad.append(f"line {number}: {text[:60]!r} (time is not finite)")
            continue
        numbers.append(number)
        times.append(t)
        src.append(fields[1])
        dst.append(fields[2])
    return (
        np.asarray(numbers, dtype=np.int64),
        np.asarray(times, dtype=np.float64),
        np.asarray(src, dtype=str),
        np.asarray(dst, dtype=str),
        bad,
    )


def malformed_lines(bad: list[str], count: int | None = None) -> ValueError:
    """The error for ``count`` malformed lines (default ``len(bad)``), the first ten of them described in ``bad``."""
    count = len(bad) if count is None else count
    more = f"; and {count - 10} more" if count > 10 else ""
    return ValueError(f"edge list: {count} malformed line(s), expected 'time src dst': " + "; ".join(bad[:10]) + more)


def _parse_lines(lines: Iterable[str], delimiter: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, times, src, dst, bad = parse_edge_lines(lines, delimiter)
    if bad:
        raise malformed_lines(bad)
    if not times.size:
        raise ValueError("edge list: no events (every line blank or a comment)")
    return times, src, dst
