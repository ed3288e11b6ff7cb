"""Plain-text views over results; nothing here computes an explanation."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def feature_label(
    index: Sequence[int] | int, feature_names: Sequence[str] | None, sample_shape: tuple[int, ...]
) -> str:
    """``names[d]`` for a vector sample; ``t=<step> names[d]`` for a window; bare indices otherwise."""
    idx = tuple(int(i) for i in np.atleast_1d(np.asarray(index)))
    name = None
    if feature_names is not None:
        name = feature_names[idx[-1]]
    if len(idx) == 1:
        return name if name is not None else str(idx[0])
    prefix = ",".join(str(i) for i in idx[:-1])
    return f"t={prefix} {name}" if name is not None else f"({prefix},{idx[-1]})"


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


def format_change(anomaly: float, reference: float, *, categorical: bool = False) -> Any:
    """The change of one feature: ``reference - anomaly`` for quantities, ``"a -> r"`` for categories
    (log keys, ids), where a difference of ids means nothing."""
    if categorical:
        return f"{format_number(anomaly)} -> {format_number(reference)}"
    return reference - anomaly


def change_table(
    result: Any,
    feature_names: Sequence[str] | None = None,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    categorical: bool = False,
) -> str:
    """The changed features of one ``Interpretation``, most important first (the order of ``changed``).

    With ``categorical=True`` (log keys, ids) the change column shows ``anomaly -> reference`` instead of
    their arithmetic difference. ``Interpretation.table`` is this view.
    """
    anomaly, reference = result.anomaly, result.reference
    if inverse is not None:
        anomaly = np.asarray(inverse(anomaly[None]))[0]
        reference = np.asarray(inverse(reference[None]))[0]
    rows = []
    for idx in result.changed:
        key = tuple(np.atleast_1d(idx))
        a, r = float(anomaly[key]), float(reference[key])
        rows.append(
            [
                feature_label(idx, feature_names, result.anomaly.shape),
                a,
                r,
                format_change(a, r, categorical=categorical),
            ]
        )
    verdict = "normal" if result.flipped else "STILL ANOMALOUS"
    groups = result.changed_groups() if getattr(result, "feature_groups", None) is not None else None
    size = f"{len(rows)} changed" + (
        "" if groups is None else f" in {len(groups)} group{'' if len(groups) == 1 else 's'}"
    )
    title = (
        f"score {result.score:.6g} -> reference {result.reference_score:.6g} "
        f"(threshold {result.threshold:.6g}, reference {verdict}); {size}, most important first"
    )
    needs = getattr(result, "needs_text", None)
    if not result.flipped and needs:
        title += f"\nthe budget is too small to reach normal: the shortest sufficient explanation {needs}"
    headers = ["feature", "anomaly", "reference", "change"]
    if groups is not None:
        flat = [int(np.ravel_multi_index(tuple(np.atleast_1d(i)), result.anomaly.shape)) for i in result.changed]
        for row, index in zip(rows, flat):
            row.insert(1, result.feature_groups[index])
        headers.insert(1, "group")
    return format_table(headers, rows, title=title)
