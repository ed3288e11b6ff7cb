"""Campaigns: explain records grouped by the pattern of their explanation (issue 23 item 1).

A record's pattern is the sorted set of its changed features, each with a direction (``up``: the alert's
value is above its reference, ``down``: below) and a size bucket in units of the normal data's spread
(``NormalStats.high - low``, the manifest's ranges; see ``deepaid_sdk.explain.sentences``). Records whose
changes have no values (sequence domains: DeepLog edits, GL-GV items) group by their changed items alone
(direction ``changed``). Grouping is vectorised over the flattened ``changed`` lists (pyarrow + numpy):
no per-record Python except building each campaign's ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deepaid_sdk.explain.sentences import NormalStats

#: Upper edges of the size buckets, in normal spreads: ``slightly`` < 0.5 <= ``clearly`` < 2 <= ``far``.
SIZE_EDGES = (0.5, 2.0)
SIZE_WORDS = ("slightly", "clearly", "far")


@attrs.frozen
class Campaign:
    """One group of records with the same explanation pattern."""

    key: tuple[tuple[str, str, str], ...]
    """``((feature, direction, size), ...)`` sorted by feature: hashable, the same for every member."""
    indices: np.ndarray = attrs.field(eq=False)
    """Row positions of the members in the records given."""
    ids: list[Any] = attrs.field(eq=False)
    representative: int
    """Row position of the member nearest the campaign's median change (spread units)."""

    @property
    def count(self) -> int:
        return len(self.indices)

    @property
    def description(self) -> str:
        """E.g. ``"bytes_out far above its reference, dst_ports slightly below"``."""
        if not self.key:
            return "no change"
        parts = []
        for feature, direction, size in self.key:
            if direction == "changed":
                parts.append(f"{feature} changed")
            else:
                where = "above" if direction == "up" else "below"
                parts.append(f"{feature} {size} {where} its reference" if not parts else f"{feature} {size} {where}")
        return ", ".join(parts)


def _table(records: Any) -> pa.Table:
    if isinstance(records, pa.Table):
        return records
    if isinstance(records, Sequence) and all(isinstance(r, Mapping) for r in records):
        return pa.Table.from_pylist(list(records))
    raise TypeError(f"records: expected a pyarrow.Table or a sequence of dicts; got {type(records).__name__}")


def _spreads(names: np.ndarray, stats: NormalStats | None) -> np.ndarray:
    """Each flat feature's normal spread (1.0 where unknown or zero)."""
    if stats is None:
        return np.ones(len(names))
    spread = {c: h - lo for c, lo, h in zip(stats.columns, stats.low, stats.high, strict=True)}
    vocab, inverse = np.unique(names, return_inverse=True)
    per = np.array([spread.get(str(v), 1.0) or 1.0 for v in vocab], dtype=np.float64)
    return per[inverse] if len(vocab) else np.ones(0)


def _flat(table: pa.Table, stats: NormalStats | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat ``(row, feature, token, change in spreads)`` over every record's changed items."""
    changed = table.column("changed").combine_chunks()
    rows = pc.list_parent_indices(changed).to_numpy()
    names = pc.list_flatten(changed).to_numpy(zero_copy_only=False).astype(str)
    change = np.full(len(names), np.nan)
    if "anomaly_values" in table.column_names and "reference_values" in table.column_names:
        a = pc.list_flatten(table.column("anomaly_values").combine_chunks()).to_numpy(zero_copy_only=False)
        r = pc.list_flatten(table.column("reference_values").combine_chunks()).to_numpy(zero_copy_only=False)
        if len(a) == len(names) == len(r):
            change = (a.astype(np.float64) - r.astype(np.float64)) / _spreads(names, stats)
            if stats is not None:  # items the normal ranges don't cover (event keys, edits) are categorical
                change[~np.isin(names, np.asarray(stats.columns, dtype=str))] = np.nan
    size = np.asarray(SIZE_WORDS, dtype=object)[np.searchsorted(SIZE_EDGES, np.abs(np.nan_to_num(change)), "right")]
    direction = np.where(np.isnan(change), "changed", np.where(change > 0, "up", "down")).astype(object)
    size = np.where(np.isnan(change), "", size)
    tokens = names.astype(object) + "\x1f" + direction + "\x1f" + size
    return rows, names, tokens.astype(str), change


def group_campaigns(records: Any, stats: NormalStats | None = None) -> list[Campaign]:
    """Group ``records`` (a pyarrow.Table of explain records, or their dicts) by explanation pattern, largest first.

    ``stats``: the job's normal ranges (``NormalStats``, from the manifest); without them sizes are in the
    features' own units. With them, changed items not among their columns (DeepLog edits, whose values
    are event keys) group by name only (direction ``changed``). Ties in size keep the order of their first member.
    """
    table = _table(records)
    n = table.num_rows
    if n == 0:
        return []
    rows, names, tokens, change = _flat(table, stats)
    order = np.lexsort((tokens, rows))
    rows, names, tokens, change = rows[order], names[order], tokens[order], change[order]
    offsets = np.searchsorted(rows, np.arange(n + 1))
    keys = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(tokens)), "\x1e")
    uniq, first, inverse, counts = np.unique(
        keys.to_numpy(zero_copy_only=False).astype(str), return_index=True, return_inverse=True, return_counts=True
    )
    ranking = sorted(range(len(uniq)), key=lambda g: (-counts[g], first[g]))
    by_group = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    ids = table.column("id").to_pylist() if "id" in table.column_names else list(range(n))
    campaigns = []
    for g in ranking:
        members = by_group[starts[g] : starts[g + 1]]
        campaigns.append(
            Campaign(_key(str(uniq[g])), members, [ids[i] for i in members], _representative(members, offsets, change))
        )
    return campaigns


def _key(joined: str) -> tuple[tuple[str, str, str], ...]:
    if not joined:
        return ()
    return tuple(tuple(t.split("\x1f")) for t in joined.split("\x1e"))  # type: ignore[misc]


def _representative(members: np.ndarray, offsets: np.ndarray, change: np.ndarray) -> int:
    """The member whose changes (spread units) are nearest, in L1, to the members' median."""
    width = int(offsets[members[0] + 1] - offsets[members[0]])
    if width == 0 or len(members) <= 2:  # two members are equally near their midpoint: the first
        return int(members[0])
    matrix = change[offsets[members][:, None] + np.arange(width)]
    matrix[np.isnan(matrix)] = 0.0
    distance = np.abs(matrix - np.median(matrix, axis=0)).sum(axis=1)
    return int(members[int(np.argmin(distance))])
