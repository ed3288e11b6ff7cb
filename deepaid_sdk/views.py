"""Plain-text views over results; nothing here computes an explanation."""

from __future__ import annotations

from typing import Any, Sequence


def format_number(value: Any) -> str:
    """Numbers compactly; a missing value (None, e.g. a metric that does not apply) as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int,)) or (hasattr(value, "is_integer") and float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{float(value):.6g}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> str:
    """A fixed-width table; numbers are right-aligned, text left-aligned."""
    cells = [[c if isinstance(c, str) else format_number(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(not isinstance(row[i], str) for row in rows) if rows else False for i in range(len(headers))]
    # None cells print as "-" and still align with the numbers of their column.

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)
