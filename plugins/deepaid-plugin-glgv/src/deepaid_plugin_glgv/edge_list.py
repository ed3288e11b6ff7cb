"""The edge-list text format of login events: ``time src dst``, ``src dst time`` or ``src dst`` per line.

Blank lines and ``#`` comments are skipped; every malformed line is reported with its line number.
The column order is declared (``order=``) or detected from the first event line, never guessed
silently: two fields are ``src dst``; of three, the one field that is a number is the time (first:
``time src dst``, last: ``src dst time``); three fields whose first and last are both numbers (numeric
node names) or neither are an error asking for ``order=``. The order used is returned with the
events (``AuthGraph.edge_order`` keeps it). Without a time column an event's time is its line number
(the order of the file). ``AuthGraph.from_edge_list`` reads a training graph this way, and the
``glgv`` explain input reads files of alert edges with the same parser, chunk by chunk.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

#: The column orders an edge list may have (``order=``).
ORDERS = ("time src dst", "src dst time", "src dst")


def check_order(order: str | None) -> str | None:
    """``order`` checked: one of ``ORDERS`` (also ``"src,dst"`` spellings with commas) or None (detect)."""
    if order is None:
        return None
    norm = " ".join(str(order).replace(",", " ").split()) if isinstance(order, str) else order
    if norm not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS} (or None to detect it from the first line); got {order!r}")
    return str(norm)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def detect_order(fields: list[str], number: int) -> str:
    """The column order of an edge list from the fields of its first event line (see the module doc)."""
    where = f"edge list: line {number} {' '.join(fields)[:60]!r}"
    if len(fields) == 2:
        return "src dst"
    if len(fields) != 3:
        raise ValueError(
            f"{where}: expected 2 fields (src dst) or 3 (with a time); got {len(fields)} "
            "(fields are split on any whitespace, or on delimiter= where given)"
        )
    head, tail = _is_number(fields[0]), _is_number(fields[2])
    if head and not tail:
        return "time src dst"
    if tail and not head:
        return "src dst time"
    what = "both numbers" if head else "neither a number"
    raise ValueError(
        f"{where}: cannot tell the column order (first and last field are {what}); pass order= one of {ORDERS}"
    )


def read_edge_list(
    source: str | os.PathLike[str] | Iterable[str], *, delimiter: str | None = None, order: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(time, src, dst)`` arrays from text lines; every malformed line is reported.

    ``source`` is a path or an iterable of lines; blank lines and ``#`` comments are skipped;
    fields are split on ``delimiter`` (default: any whitespace, or commas for a ``.csv`` path);
    ``order`` is one of ``ORDERS`` or None to detect it from the first event line.
    """
    times, src, dst, _ = read_edge_list_with_order(source, delimiter=delimiter, order=order)
    return times, src, dst


def read_edge_list_with_order(
    source: str | os.PathLike[str] | Iterable[str], *, delimiter: str | None = None, order: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``read_edge_list`` and the column order it read (declared or detected)."""
    order = check_order(order)
    if isinstance(source, (str, os.PathLike)):
        if delimiter is None and str(source).endswith(".csv"):
            delimiter = ","
        with open(source, encoding="utf-8") as handle:
            return _parse_lines(handle, delimiter, order)
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise TypeError(f"source: expected a path or an iterable of lines; got {type(source).__name__}")
    return _parse_lines(source, delimiter, order)


def _event(fields: list[str], order: str) -> tuple[str | None, str, str, str]:
    """``(problem or None, time text, src, dst)`` of one line's fields in ``order``."""
    want = len(order.split())
    if len(fields) != want:
        return f"{len(fields)} fields", "", "", ""
    if order == "time src dst":
        t, s, d = fields
    elif order == "src dst time":
        s, d, t = fields
    else:
        (s, d), t = fields, ""
    if not s or not d:
        return "an empty node name", "", "", ""
    return None, t, s, d


def parse_edge_lines(
    lines: Iterable[str], delimiter: str | None, *, first: int = 1, order: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], str | None]:
    """``(line numbers, time, src, dst)`` of the events in ``lines`` (numbered from ``first``), a
    description of each malformed line, and the column order (``order``, or detected from the first
    event line; None when there was none). Blank lines and ``#`` comments are skipped."""
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
        if order is None:
            order = detect_order(fields, number)
        problem, t_text, s, d = _event(fields, order)
        if problem is None and t_text:
            try:
                t = float(t_text)
            except ValueError:
                problem = f"time {t_text[:20]!r} is not a number"
            else:
                problem = None if np.isfinite(t) else "time is not finite"
        elif problem is None:
            t = float(number)
        if problem is not None:
            bad.append(f"line {number}: {text[:60]!r} ({problem})")
            continue
        numbers.append(number)
        times.append(t)
        src.append(s)
        dst.append(d)
    return (
        np.asarray(numbers, dtype=np.int64),
        np.asarray(times, dtype=np.float64),
        np.asarray(src, dtype=str),
        np.asarray(dst, dtype=str),
        bad,
        order,
    )


def malformed_lines(bad: list[str], count: int | None = None, order: str | None = None) -> ValueError:
    """The error for ``count`` malformed lines (default ``len(bad)``), the first ten of them described in ``bad``."""
    count = len(bad) if count is None else count
    more = f"; and {count - 10} more" if count > 10 else ""
    expected = f"expected {order!r}" if order else f"expected one of {ORDERS}"
    return ValueError(f"edge list: {count} malformed line(s), {expected}: " + "; ".join(bad[:10]) + more)


def _parse_lines(
    lines: Iterable[str], delimiter: str | None, order: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    _, times, src, dst, bad, found = parse_edge_lines(lines, delimiter, order=order)
    if bad:
        raise malformed_lines(bad, order=found)
    if not times.size or found is None:
        raise ValueError("edge list: no events (every line blank or a comment)")
    return times, src, dst, found
