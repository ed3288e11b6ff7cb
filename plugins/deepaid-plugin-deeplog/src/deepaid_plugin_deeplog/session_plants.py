"""Whole-session alerts with ground truth: one edit planted anywhere in a normal session.

A planted replace is explained by a replace at the same position; a planted insert by deleting the
inserted key (any key of the run of equal keys it joined); a planted delete by inserting the lost
key back (before any position that gives the same sequence: the gaps beside a run of that key).
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np

from deepaid_plugin_deeplog.detection import Windows

#: Planted kind -> the edit kind that undoes it.
EXPLAINED_BY = {"replace": "replace", "insert": "delete", "delete": "insert"}


@attrs.frozen
class PlantedSessions:
    """Anomalous sessions, what was planted in each, and which explanations count as right."""

    sessions: tuple[np.ndarray, ...] = attrs.field(eq=False)
    originals: tuple[np.ndarray, ...] = attrs.field(eq=False)
    kinds: tuple[str, ...]
    """Planted kind per session: ``replace``, ``insert`` or ``delete``."""
    truth: tuple[frozenset[int], ...]
    """Per session: positions (anomalous-session coordinates) where the undoing edit may sit."""

    def __len__(self) -> int:
        return len(self.sessions)

    def subset(self, kind: str) -> PlantedSessions:
        idx = [i for i, k in enumerate(self.kinds) if k == kind]
        return PlantedSessions(
            tuple(self.sessions[i] for i in idx),
            tuple(self.originals[i] for i in idx),
            tuple(self.kinds[i] for i in idx),
            tuple(self.truth[i] for i in idx),
        )


def sessions_from_windows(windows: Windows) -> list[np.ndarray]:
    """Key sequences back from padded windows (every key is some window's next key, in order)."""
    counts = np.bincount(windows.session, minlength=windows.num_sessions)
    order = np.lexsort((windows.position, windows.session))
    return np.split(windows.next_keys[order], np.cumsum(counts)[:-1])


def _run(seq: np.ndarray, start: int, key: int, step: int) -> int:
    """How many consecutive ``key`` s from ``start`` going by ``step``."""
    count, i = 0, start
    while 0 <= i < len(seq) and seq[i] == key:
        count, i = count + 1, i + step
    return count


def plant_edit(
    seq: np.ndarray, kind: str, rng: np.random.Generator, keys: np.ndarray
) -> tuple[np.ndarray, frozenset[int]]:
    """One ``kind`` edit at a uniform position of ``seq`` (new keys drawn from ``keys``), and its truth."""
    seq = np.asarray(seq, dtype=np.int64)
    if kind == "replace":
        p = int(rng.integers(0, len(seq)))
        key = int(rng.choice(keys[keys != seq[p]]))
        out = seq.copy()
        out[p] = key
        return out, frozenset([p])
    if kind == "insert":
        p = int(rng.integers(0, len(seq) + 1))
        key = int(rng.choice(keys))
        out = np.insert(seq, p, key)
        lo, hi = p - _run(out, p - 1, key, -1), p + _run(out, p + 1, key, 1)
        return out, frozenset(range(lo, hi + 1))
    if kind == "delete":
        p = int(rng.integers(0, len(seq)))
        key = int(seq[p])
        out = np.delete(seq, p)
        lo, hi = p - _run(out, p - 1, key, -1), p + _run(out, p, key, 1)
        return out, frozenset(range(lo, hi + 1))
    raise ValueError(f"kind: expected one of {sorted(EXPLAINED_BY)}; got {kind!r}")


def plant_sessions(
    normal: Sequence[np.ndarray],
    kinds: Sequence[str],
    keys: np.ndarray,
    *,
    seed: int = 0,
    min_len: int = 11,
    max_len: int = 100,
) -> PlantedSessions:
    """One planted edit per normal session, kinds in turn; sessions outside [min_len, max_len] are skipped."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Any]] = {"sessions": [], "originals": [], "kinds": [], "truth": []}
    keys = np.asarray(keys, dtype=np.int64)
    i = 0
    for seq in normal:  # data generation, once per benchmark
        kind = kinds[i % len(kinds)]
        anomalous, truth = plant_edit(np.asarray(seq), kind, rng, keys)
        if not min_len <= len(anomalous) <= max_len:
            continue
        i += 1
        for name, value in zip(out, (anomalous, np.asarray(seq, dtype=np.int64), kind, truth)):
            out[name].append(value)
    return PlantedSessions(**{name: tuple(v) for name, v in out.items()})


def keep(planted: PlantedSessions, mask: Any) -> PlantedSessions:
    """The planted sessions where ``mask`` is true (e.g. those the model flags)."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    return PlantedSessions(
        tuple(planted.sessions[i] for i in idx),
        tuple(planted.originals[i] for i in idx),
        tuple(planted.kinds[i] for i in idx),
        tuple(planted.truth[i] for i in idx),
    )
