"""Session edits (replace, insert, delete a log key) and the results of a session interpretation.

Positions are in the coordinates of the *original* session: a replace or delete names the key at
``position``; an insert puts its key just before the key at ``position`` (``position == len`` appends).
At most one edit per position, so an edit set applies the same way whatever its order.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import attrs
import numpy as np

#: Edit kinds, in the order the search prefers them on a tie.
EDIT_KINDS = ("replace", "insert", "delete")
#: The kinds as the integer codes of the batched search (indices into ``EDIT_KINDS``).
REPLACE, INSERT, DELETE = range(3)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@attrs.frozen
class SessionEdit:
    """One edit of a session: its kind, where, which key goes out and which comes in."""

    kind: str = attrs.field(validator=attrs.validators.in_(EDIT_KINDS))
    position: int = attrs.field(converter=int)
    """Index in the original session (insert: the new key goes before this index)."""
    old_key: int | None = attrs.field(converter=_opt_int)
    """Key removed or replaced (``None`` for an insert)."""
    new_key: int | None = attrs.field(converter=_opt_int)
    """Key inserted or put in (``None`` for a delete)."""
    fixes: tuple[int, ...] = attrs.field(default=(), converter=lambda v: tuple(int(p) for p in v))
    """Flagged positions of the original session that this edit makes normal (undo it: they alert)."""
    old_template: str | None = None
    new_template: str | None = None
    log_likelihood: float | None = attrs.field(default=None, converter=lambda v: None if v is None else float(v))
    """Log-likelihood of the session with this edit alone applied, when it alone makes every window normal."""

    def __attrs_post_init__(self) -> None:
        if self.position < 0:
            raise ValueError(f"position: expected an index >= 0; got {self.position}")
        need_old, need_new = self.kind != "insert", self.kind != "delete"
        if (self.old_key is not None) != need_old or (self.new_key is not None) != need_new:
            raise ValueError(
                f"{self.kind}: expected old_key {'set' if need_old else 'None'} and new_key "
                f"{'set' if need_new else 'None'}; got {self.old_key!r}, {self.new_key!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "position": self.position,
            "old_key": self.old_key,
            "new_key": self.new_key,
            "old_template": self.old_template,
            "new_template": self.new_template,
            "fixes": list(self.fixes),
            "log_likelihood": self.log_likelihood,
        }


def _as_session(session: Any, name: str) -> np.ndarray:
    arr = np.asarray(session)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            f"{name}: expected a 1-d sequence of integer key ids; got dtype {arr.dtype}, shape {list(arr.shape)}"
        )
    return arr.astype(np.int64)


def _sorted_edits(edits: Sequence[SessionEdit], length: int) -> list[SessionEdit]:
    out = sorted(edits, key=lambda e: e.position)
    seen = [e.position for e in out]
    if len(set(seen)) != len(seen):
        raise ValueError(f"edits: at most one edit per position; got positions {seen}")
    for e in out:
        top = length if e.kind == "insert" else length - 1
        if e.position > top:
            raise ValueError(f"edits: a {e.kind} at position {e.position} lies outside a session of {length} keys")
    return out


def apply_edits_with_origin(session: Any, edits: Sequence[SessionEdit]) -> tuple[np.ndarray, np.ndarray]:
    """The edited session and, per key of it, its index in the original session (-1: inserted)."""
    seq = _as_session(session, "session")
    keys: list[int] = []
    origin: list[int] = []
    by_pos = {e.position: e for e in _sorted_edits(edits, len(seq))}
    for i in range(len(seq) + 1):  # one session, a few dozen keys: data assembly, not a hot path
        e = by_pos.get(i)
        if e is not None and e.kind == "insert":
            keys.append(int(e.new_key))  # type: ignore[arg-type]
            origin.append(-1)
        if i == len(seq):
            break
        if e is not None and e.kind != "insert" and e.old_key != seq[i]:
            raise ValueError(f"edits: the {e.kind} at position {i} expects key {e.old_key}; the session has {seq[i]}")
        if e is None or e.kind == "insert":
            keys.append(int(seq[i]))
            origin.append(i)
        elif e.kind == "replace":
            keys.append(int(e.new_key))  # type: ignore[arg-type]
            origin.append(i)
    return np.asarray(keys, dtype=np.int64), np.asarray(origin, dtype=np.int64)


def apply_edits(session: Any, edits: Sequence[SessionEdit]) -> np.ndarray:
    """The session with every edit applied (positions are original-session indices)."""
    return apply_edits_with_origin(session, edits)[0]


def undo_edits(edited: Any, edits: Sequence[SessionEdit]) -> np.ndarray:
    """The original session back from an edited one and the edits that made it."""
    seq = _as_session(edited, "edited")
    out = list(seq)
    shift = 0  # edited index of original position p is p + shift (inserts before it minus deletes before it)
    placed = []
    for e in _sorted_edits(edits, 1 << 62):
        placed.append((e, e.position + shift))
        shift += 1 if e.kind == "insert" else -1 if e.kind == "delete" else 0
    for e, q in reversed(placed):  # right to left, so earlier indices stay valid
        if e.kind == "insert":
            if q >= len(out) or out[q] != e.new_key:
                raise ValueError(f"edits: no inserted key {e.new_key} at edited index {q}")
            del out[q]
        elif e.kind == "delete":
            out.insert(q, int(e.old_key))  # type: ignore[arg-type]
        else:
            if q >= len(out) or out[q] != e.new_key:
                raise ValueError(f"edits: no replaced key {e.new_key} at edited index {q}")
            out[q] = int(e.old_key)  # type: ignore[arg-type]
    return np.asarray(out, dtype=np.int64)


@attrs.frozen
class SessionInterpretation:
    """Why one session alerted: the fewest edits found that make every window of it normal."""

    session: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    """The original key sequence."""
    edited: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    """The session with ``edits`` applied."""
    edits: tuple[SessionEdit, ...]
    """In position order."""
    flagged: tuple[int, ...]
    """Positions of the original session whose key the model did not expect (top-g rule)."""
    remaining: tuple[int, ...]
    """Positions of the edited session still flagged (empty when ``flipped``)."""
    rounds: int
    """Search rounds used (edits found before unneeded ones were dropped)."""
    alternatives: int = 0
    """Distinct single edits that make every window of the session normal (different edited sessions),
    the reported one included: 1 when the fix is unique, 0 when no single edit suffices."""
    next_best: tuple[SessionEdit, ...] = ()
    """The next most likely of those single edits, best first, each with its ``log_likelihood``."""

    @property
    def log_likelihood(self) -> float | None:
        """Log-likelihood of the edited session, when one edit makes it normal (else None)."""
        return self.edits[0].log_likelihood if len(self.edits) == 1 else None

    @property
    def flipped(self) -> bool:
        """Every window of the edited session is normal."""
        return not self.remaining

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session.tolist(),
            "edited": self.edited.tolist(),
            "edits": [e.to_dict() for e in self.edits],
            "flagged": list(self.flagged),
            "remaining": list(self.remaining),
            "flipped": self.flipped,
            "rounds": self.rounds,
            "alternatives": self.alternatives,
            "next_best": [e.to_dict() for e in self.next_best],
        }


@attrs.frozen
class SessionBatch:
    """Interpretations of a batch of sessions, in input order, and how they were found."""

    results: tuple[SessionInterpretation, ...]
    seconds: float
    method: str
    params: dict[str, Any] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> SessionInterpretation:
        return self.results[i]

    def __iter__(self) -> Iterator[SessionInterpretation]:
        return iter(self.results)

    @property
    def flip_rate(self) -> float:
        """Share of the alerted sessions (some window flagged) whose edited version is normal in every window.

        A session with no flagged window needs no edit and is left out; NaN when no session alerted.
        """
        alerted = [r.flipped for r in self.results if r.flagged]
        return float(np.mean(alerted)) if alerted else float("nan")

    @property
    def throughput(self) -> float:
        """Sessions per second."""
        return len(self.results) / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "params": dict(self.params),
            "seconds": self.seconds,
            "flip_rate": None if np.isnan(self.flip_rate) else self.flip_rate,
            "results": [r.to_dict() for r in self.results],
        }
