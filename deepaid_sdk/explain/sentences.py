"""A short plain-language sentence per record, built only from the record's numbers and the normal data's.

No language model: the sentence is a template filled with the record's own values (score, threshold,
changed features, alert and reference values, domain details) and, where the job had ``--normal`` rows,
each feature's normal range (the 0.5% and 99.5% quantiles of those rows, ``NormalStats``). Numbers are
written to be read (``readable``: a few significant digits, thousands separators), and ``ungrounded``
lists every number of a sentence that is neither in its record nor in the normal statistics, so a test
can check that nothing was made up.

The core words rows of features (tabular, PyOD, Kitsune, multivariate series); an input whose records are
something else (DeepLog sessions, GL-GV edges) words its own by overriding ``ExplainInput.sentence``,
using ``readable`` and ``clip_text`` from here.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping, Sequence

import attrs
import numpy as np

#: Quantiles (percent) of the normal rows that bound a feature's normal range in the sentences.
NORMAL_QUANTILES = (0.5, 99.5)
#: Changed features worded with their values; the others are named only.
WORDED = 3
#: A number as a sentence writes it (and as ``ungrounded`` reads it back): ``-1,234.5``, ``0.000123``, ``1.2e+09``.
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(?![\w])")
_STEP = re.compile(r"^t=-?\d+ (.+)$")


def readable(value: Any) -> str:
    """``value`` for a reader: 3 significant digits below 1,000, whole numbers with thousands separators
    from 1,000 up to a billion (``7774.53`` -> ``7,775``), scientific beyond; ``none`` for a missing value."""
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e9:
        return f"{x:.3g}"
    if abs(x) >= 1000 or x == round(x):
        return f"{round(x):,}"
    return f"{x:.3g}"


def clip_text(text: str, limit: int = 48) -> str:
    """``text`` cut at a word boundary to about ``limit`` characters (``...`` where cut): no number is split."""
    words = str(text).split()
    if len(" ".join(words)) <= limit:
        return " ".join(words)
    kept: list[str] = []
    for word in words:
        if kept and len(" ".join([*kept, word])) > limit:
            break
        kept.append(word)
    return " ".join(kept) + "..."


@attrs.frozen
class NormalStats:
    """Each feature's normal range: the ``NORMAL_QUANTILES`` of the job's normal rows, computed once per job
    (kept in the manifest, so a resumed job words its sentences the same way)."""

    columns: tuple[str, ...] = attrs.field(converter=lambda v: tuple(str(x) for x in v))
    low: tuple[float, ...] = attrs.field(converter=lambda v: tuple(float(x) for x in v))
    high: tuple[float, ...] = attrs.field(converter=lambda v: tuple(float(x) for x in v))
    rows: int = 0
    """How many normal rows the ranges come from."""
    source: str = "normal"
    """Where the rows came from (the ``--normal`` file)."""
    quantiles: tuple[float, float] = attrs.field(default=NORMAL_QUANTILES, converter=lambda v: tuple(map(float, v)))

    def __attrs_post_init__(self) -> None:
        if not len(self.columns) == len(self.low) == len(self.high):
            raise ValueError(
                f"normal stats: expected one low and one high per column ({len(self.columns)}); "
                f"got {len(self.low)} and {len(self.high)}"
            )

    @classmethod
    def of(cls, rows: np.ndarray, columns: Sequence[str], source: str = "normal") -> NormalStats:
        """The ranges of ``rows`` ``[N, len(columns)]`` (float; the job's ``--normal`` rows)."""
        values = np.asarray(rows, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(columns) or not len(values):
            raise ValueError(f"normal: expected rows of {len(columns)} columns; got shape {list(values.shape)}")
        low, high = np.percentile(values, NORMAL_QUANTILES, axis=0)
        return cls([str(c) for c in columns], low.tolist(), high.tolist(), len(values), source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: what the manifest keeps."""
        return {
            "columns": list(self.columns),
            "low": list(self.low),
            "high": list(self.high),
            "rows": self.rows,
            "source": self.source,
            "quantiles": list(self.quantiles),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormalStats:
        return cls(**data)

    def range_of(self, feature: str) -> tuple[float, float] | None:
        """``(low, high)`` of a feature label (a column, or a window cell ``t=-1 column``), or None."""
        index = _index(self.columns)
        step = _STEP.match(feature)
        key = feature if feature in index else (step.group(1) if step else None)
        if key is None or key not in index:
            return None
        i = index[key]
        return self.low[i], self.high[i]


_INDEX_CACHE: dict[tuple[str, ...], dict[str, int]] = {}


def _index(columns: tuple[str, ...]) -> dict[str, int]:
    if columns not in _INDEX_CACHE:
        _INDEX_CACHE.clear()
        _INDEX_CACHE[columns] = {name: i for i, name in enumerate(columns)}
    return _INDEX_CACHE[columns]


def normal_range(low: float, high: float) -> str:
    """``normal 90 to 1,200``, ``normal up to 4`` (from 0), ``normal always 5`` (ASCII: JSON lines keep it)."""
    lo, hi = readable(low), readable(high)
    if lo == hi:
        return f"normal always {lo}"
    if lo == "0":
        return f"normal up to {hi}"
    return f"normal {lo} to {hi}"


def feature_sentence(record: Mapping[str, Any], normal: NormalStats | None = None) -> str:
    """The sentence of a record of features: the score against the threshold, then the changed features
    (the first ``WORDED`` with the alert's value, the normal range and the reference's value)."""
    score, threshold = record.get("score"), record.get("threshold")
    if not record.get("alert"):
        return f"No alert: score {readable(score)} is not above the threshold {readable(threshold)}."
    head = f"Score {readable(score)} is over the threshold {readable(threshold)}"
    changed = list(record.get("changed") or [])
    if not changed:
        return head + "; no reference was found within the budget." + _needs(record)
    head += f"; the reference scores {readable(record.get('reference_score'))}."
    parts = []
    pairs = zip(changed, record.get("anomaly_values") or [], record.get("reference_values") or [])
    for i, (name, a, r) in enumerate(list(pairs)[:WORDED]):
        bounds = normal.range_of(str(name)) if normal is not None else None
        where = f" ({normal_range(*bounds)})" if bounds is not None else ""
        if i == 0:
            parts.append(f"{name} is {readable(a)}{where}; the detector accepts {readable(r)}.")
        else:
            parts.append(f"{name} {readable(a)}{where} -> {readable(r)}.")
    if len(changed) > WORDED:
        parts.append(f"Also changed: {', '.join(map(str, changed[WORDED:]))}.")
    tail = "" if record.get("flipped") else " The reference is still judged anomalous." + _needs(record)
    return " ".join([head, *parts]) + tail


def _needs(record: Mapping[str, Any]) -> str:
    needs = record.get("needs")
    return f" It {needs} to reach normal." if needs else ""


def verdict_sentence(record: Mapping[str, Any]) -> str:
    """`` Rules: port scan (confidence 0.9).`` where the Distiller's rules gave a verdict, else empty."""
    verdict = record.get("verdict")
    if verdict is None:
        return ""
    confidence = record.get("confidence")
    how = f" (confidence {readable(confidence)})" if confidence is not None else ""
    return f" Rules: {verdict}{how}{', suppressed' if record.get('suppressed') else ''}."


def _values(value: Any) -> Iterable[str]:
    """Every number of a record as ``readable`` writes it, and every number written inside its strings."""
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _values(v)
    elif isinstance(value, str):
        yield from NUMBER.findall(value)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        yield readable(value)
        if float(value) == round(float(value)) and abs(float(value)) < 1e15:
            yield str(int(value))


def ungrounded(sentence: str, record: Mapping[str, Any], normal: NormalStats | None = None) -> list[str]:
    """The numbers of ``sentence`` that are in neither ``record`` (any field, ``details`` included, numbers
    written in its strings too) nor ``normal``'s ranges of the record's changed features; [] when grounded."""
    allowed = set(_values({k: v for k, v in record.items() if k != "sentence"}))
    if normal is not None:
        for name in record.get("changed") or []:
            bounds = normal.range_of(str(name))
            if bounds is not None:
                allowed.update(readable(b) for b in bounds)
    return [token for token in NUMBER.findall(sentence) if token not in allowed]


def add_sentences(table: Any, reader: Any, normal: NormalStats | None) -> Any:
    """``table`` (a chunk's records) with a ``sentence`` column: ``reader.sentence`` of each record, then the
    rules' verdict where the record has one."""
    import pyarrow as pa

    from deepaid_sdk.explain.records import record_dicts

    if "sentence" in table.column_names:
        raise ValueError("fields: column 'sentence' is already in the record")
    if not table.num_rows:
        return table
    sentences = []
    for record in record_dicts(table):  # result assembly: one short string per record
        text = reader.sentence(record, normal)
        sentences.append(None if text is None else text + verdict_sentence(record))
    return table.append_column("sentence", pa.array(sentences, pa.string()))
