"""Whole-session DeepLog interpretation: the fewest key edits that make every window of a session normal.

A session is a whole key sequence. With a pad key (the usual DeepLog set-up) it is left-padded by
``W`` pad keys, so every key is predicted from the ``W`` before it; without one, keys ``W..L-1``
are. A position is *flagged* when its key is outside the model's top-g guesses there.

The search runs in rounds, batched over every session that still has a flag:

1. Every window of every session is scored (distinct windows once, see ``window_scores``).
2. Candidates come from the first flagged position ``j`` and the ``W`` positions ``p`` before it,
   restricted by what the model predicts: replace the key at ``j`` by, or insert before it, one of
   the top-g keys there; delete the key at ``j``; for each ``p`` before ``j`` whose key is not the
   model's top guess there (``suspects``), replace it by, or insert before it, one of the
   ``expected`` top keys at ``p``; delete any key ``p`` before ``j``.
3. Screening, one window per candidate in one pass: an edit before ``j`` must make the key at
   ``j`` normal (its probe is the window that now predicts it); an edit at ``j`` is probed by the
   first window after it. Per session the ``screen`` candidates with unflagged, least surprising
   probes go on.
4. Those are scored in one chunked pass: only the ``W + 1`` windows an edit changes are
   re-scored, and the flags and surprise of the rest of the session carry over.
5. Per session, the candidate that leaves the fewest flagged windows wins; ties go to the fewest
   new flags, then the most typical edited session (least total surprise ``-log p`` of its keys,
   less ``length_bonus`` per key), then replace < insert < delete, then the edit nearest the
   flag. It is applied only if it lowers the number of flags; a session stops when it has none,
   or when no candidate helps.

After at most ``k`` rounds, edits that are not needed (undoing one leaves every window normal) are
dropped, one at a time. Each remaining edit reports the flagged positions it fixes: those that
alert again when it alone is undone.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.checks import check_finite_number, check_positive_int

from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_plugin_deeplog.edits import (
    EDIT_KINDS, SessionBatch, SessionEdit, SessionInterpretation, apply_edits_with_origin,
)
from deepaid_plugin_deeplog.window_scores import WindowScorer

REPLACE, INSERT, DELETE = range(3)
#: Default ``length_bonus``. DeepLog's surprise of a session grows with every key it predicts, so
#: between "delete the odd key" and "replace it" a plain sum picks the shorter session; on the
#: synthetic workflow logs a bonus of 0.1 nats per key balances replace and delete/insert
#: explanations (``deepaid bench deeplog``, sessions cases).
LENGTH_BONUS = 0.1
#: Default ``screen``: candidates per session scored in full after the one-window probe.
SCREEN = 12
_INF = float("inf")


def prepare_sessions(adapter: DeepLogAdapter, sessions: Any, name: str = "sessions", *,
                     pad: bool = False) -> list[np.ndarray]:
    """Sessions as 1-d int64 arrays (ragged allowed) of valid key ids: at least ``W + 1`` of them, or one
    with ``pad`` (the pad keys before the first key make its windows)."""
    if isinstance(sessions, torch.Tensor):
        sessions = sessions.detach().cpu().numpy()
    if isinstance(sessions, np.ndarray) and sessions.dtype != object:
        if sessions.ndim != 2:
            raise ValueError(f"{name}: expected a batch of sessions (a list of key sequences or an int array "
                             f"[S, L]); got an array of shape {list(sessions.shape)}"
                             + (" (wrap one session in a list)" if sessions.ndim == 1 else ""))
        rows: Sequence[Any] = list(sessions)
    elif isinstance(sessions, (list, tuple, np.ndarray)):
        rows = list(sessions)
    else:
        raise TypeError(f"{name}: expected a list of key sequences or an int array [S, L]; "
                        f"got {type(sessions).__name__}")
    if not rows:
        raise ValueError(f"{name}: expected at least one session; got none")
    out = []
    w, c = adapter.window, adapter.num_keys
    for i, row in enumerate(rows):  # input checks, once per call
        arr = np.asarray(row.detach().cpu() if isinstance(row, torch.Tensor) else row)
        if arr.ndim != 1 or arr.dtype == object or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name}[{i}]: expected a 1-d sequence of integer key ids; got dtype {arr.dtype}, "
                            f"shape {list(arr.shape)}")
        least = 1 if pad else w + 1
        if arr.size < least:
            raise ValueError(f"{name}[{i}]: expected a session of at least "
                             f"{'one key' if pad else f'window + 1 = {w + 1} keys (or pad=True)'}; got {arr.size}")
        if arr.min() < 0 or arr.max() >= c:
            raise ValueError(f"{name}[{i}]: key ids must lie in [0, {c}); got min {arr.min()}, max {arr.max()}")
        out.append(arr.astype(np.int64))
    return out


class SessionSearch:
    """The session edit search (see the module docstring).

    :param expected: top guesses tried per position before the flag (replace by / insert).
    :param suspects: a position before the flag is a replace/insert site only when its key's rank
        among the model's guesses there is at least this (1: not the top guess; 0: every position).
    :param screen: candidates per session scored in full after a one-window probe (0: all of them).
    :param length_bonus: nats of surprise credited per predicted key when comparing edited sessions
        of different lengths (0: plain sum, which favours deleting; see ``LENGTH_BONUS``).
    """

    name = "deeplog-sessions"

    def __init__(self, expected: int = 2, suspects: int = 1, length_bonus: float = LENGTH_BONUS,
                 screen: int = SCREEN) -> None:
        self.expected = check_positive_int(expected, "expected")
        self.screen = check_positive_int(screen, "screen", minimum=0)
        self.suspects = check_positive_int(suspects, "suspects", minimum=0)
        self.length_bonus = check_finite_number(length_bonus, "length_bonus")

    def describe(self) -> dict[str, Any]:
        return {"search": self.name, "expected": self.expected, "suspects": self.suspects,
                "length_bonus": self.length_bonus, "screen": self.screen}

    def search(self, adapter: DeepLogAdapter, sessions: Any, k: int, pad: bool | None = None) -> SessionBatch:
        """Explain every session of ``sessions`` (see ``prepare_sessions``) with at most ``k`` edits each."""
        if not isinstance(adapter, DeepLogAdapter):
            raise TypeError(f"adapter: expected a DeepLogAdapter; got {type(adapter).__name__}")
        k = check_positive_int(k, "k")
        if pad is None:
            pad = adapter.pad_key is not None
        if pad and adapter.pad_key is None:
            raise ValueError("pad: padding needs the adapter's pad_key; got pad=True with pad_key=None")
        seqs = prepare_sessions(adapter, sessions, pad=bool(pad))
        started = time.perf_counter()
        state = _State(adapter, seqs, k, bool(pad), self)
        state.run()
        results = state.results()
        params = {**self.describe(), "k": k, "pad": bool(pad), "num_candidates": adapter.num_candidates,
                  "window": adapter.window}
        return SessionBatch(results=tuple(results), seconds=time.perf_counter() - started, method=self.name,
                            params=params)


class _State:
    """Padded session tensors and per-position scores, updated in place round by round."""

    def __init__(self, adapter: DeepLogAdapter, seqs: list[np.ndarray], k: int, pad: bool,
                 opts: SessionSearch) -> None:
        self.a, self.seqs, self.k, self.opts = adapter, seqs, k, opts
        dev = adapter.device
        self.w, self.g, self.c = adapter.window, adapter.num_candidates, adapter.num_keys
        self.m = min(opts.expected, self.g)
        self.top = max(self.g, self.m)
        self.pre = self.w if pad else 0
        lens = torch.as_tensor([len(s) for s in seqs], dtype=torch.int64, device=dev)
        s_count = len(seqs)
        self.T = self.pre + int(lens.max()) + k + 1
        flat = torch.as_tensor(np.concatenate(seqs), device=dev)
        sid = torch.repeat_interleave(torch.arange(s_count, device=dev), lens)
        pos = torch.arange(len(flat), device=dev) - (torch.cumsum(lens, 0) - lens)[sid]
        fill = adapter.pad_key if adapter.pad_key is not None else 0
        self.X = torch.full((s_count, self.T), fill, dtype=torch.int64, device=dev)
        self.X[sid, self.pre + pos] = flat
        self.orig = torch.full((s_count, self.T), -1, dtype=torch.int64, device=dev)
        self.orig[sid, self.pre + pos] = pos
        self.n = self.pre + lens
        self.touched = torch.zeros(s_count, int(lens.max()) + 1, dtype=torch.bool, device=dev)
        self.allowed = torch.ones(self.c, dtype=torch.bool, device=dev)
        self.allowed[adapter.reserved()] = False
        self.scorer = WindowScorer(adapter)
        self.margin = torch.full((s_count, self.T), -_INF, device=dev)
        self.nll = torch.zeros(s_count, self.T, device=dev)
        self.guess = torch.zeros(s_count, self.T, self.top, dtype=torch.int64, device=dev)
        self.rank = torch.zeros(s_count, self.T, dtype=torch.int64, device=dev)
        self.stopped = torch.zeros(s_count, dtype=torch.bool, device=dev)
        self.records: list[tuple[Tensor, ...]] = []
        self.rounds = torch.zeros(s_count, dtype=torch.int64, device=dev)

    # -- scoring -------------------------------------------------------------------------------
    def window_stats(self, windows: Tensor, nxt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Margin, surprise ``-log p`` and logits of (window, next key) pairs."""
        logits = self.scorer.logits(windows)
        margin = topg_margin(logits, nxt, self.g)
        nll = -logits.log_softmax(dim=1).gather(1, nxt[:, None]).squeeze(1)
        return margin, nll, logits

    def rescore(self, rows: Tensor) -> None:
        """Recompute every window score of ``rows`` (their sessions changed)."""
        if rows.numel() == 0:
            return
        w = self.w
        win = self.X[rows].unfold(1, w + 1, 1)  # [R, T-W, W+1]: window t predicts position t + W
        valid = torch.arange(w, self.T, device=rows.device)[None] < self.n[rows][:, None]
        sel = win[valid]
        margin, nll, logits = self.window_stats(sel[:, :w], sel[:, w])
        guess = logits.masked_fill(~self.allowed[None], -_INF).topk(self.top, dim=1).indices
        rank = (logits > logits.gather(1, sel[:, w:])).sum(dim=1)
        for name, values, empty in (("margin", margin, -_INF), ("nll", nll, 0.0), ("guess", guess, 0),
                                    ("rank", rank, 0)):
            table = getattr(self, name)
            part = torch.full((len(rows), self.T - w, *values.shape[1:]), empty, dtype=table.dtype,
                              device=rows.device)
            part[valid] = values.to(table.dtype)
            block = table[rows]
            block[:, :w] = empty
            block[:, w:] = part
            table[rows] = block

    @property
    def flags(self) -> Tensor:
        return self.margin > self.a.threshold

    # -- one round -----------------------------------------------------------------------------
    def candidates(self, act: Tensor) -> tuple[Tensor, ...]:
        """Flat candidate edits of the sessions ``act``: (row, kind, position, key, distance)."""
        w, dev = self.w, act.device
        flags = self.flags[act]
        j0 = flags.to(torch.int8).argmax(dim=1)
        d = torch.arange(w + 1, device=dev)
        p = j0[:, None] - d[None]
        pc = p.clamp(min=0)
        X, orig = self.X[act], self.orig[act]
        key_at = X.gather(1, pc)
        op = orig.gather(1, pc)
        ok = (p >= 0) & (op >= 0) & ~self.touched[act].gather(1, op.clamp(min=0))
        if self.a.pad_key is not None:
            ok &= key_at != self.a.pad_key
        guessed = ok & (p >= w)
        suspect = guessed & ((d[None] == 0) | (self.rank[act].gather(1, pc) >= self.opts.suspects))
        guesses = self.guess[act].gather(1, pc[..., None].expand(-1, -1, self.top))  # [a, D, top]
        cols = torch.arange(self.top, device=dev)
        width = torch.where(d == 0, self.g, self.m)
        usable = self.allowed[guesses]  # fewer allowed keys than guesses: the rest are padding
        rep_ok = (suspect[..., None] & (cols[None, None] < width[None, :, None]) & (guesses != key_at[..., None])
                  & usable)
        ins_ok = suspect[..., None] & (cols[None, None] < width[None, :, None]) & usable
        del_ok = ok & (self.n[act] - 1 > w)[:, None]
        parts = []
        for kind, mask, keys in ((REPLACE, rep_ok, guesses), (INSERT, ins_ok, guesses),
                                 (DELETE, del_ok[..., None], torch.full_like(guesses[..., :1], -1))):
            r, dd, col = mask.nonzero(as_tuple=True)
            parts.append((r, torch.full_like(r, kind), p[r, dd], keys[r, dd, col], dd))
        return tuple(torch.cat(t) for t in zip(*parts))

    def strips(self, rows: Tensor, kind: Tensor, p: Tensor, key: Tensor) -> tuple[Tensor, Tensor]:
        """Keys ``p-W .. p+W`` of each edited session ``[M, 2W+1]`` and its new length."""
        w, T, dev = self.w, self.T, rows.device
        i = p[:, None] - w + torch.arange(2 * w + 1, device=dev)[None]  # edited-session indices
        at = i == p[:, None]
        src = torch.where((kind == INSERT)[:, None] & (i > p[:, None]), i - 1, i)
        src = torch.where((kind == DELETE)[:, None] & (i >= p[:, None]), i + 1, src)
        strip = self.X[rows[:, None], src.clamp(0, T - 1)]
        strip = torch.where(at & (kind != DELETE)[:, None], key[:, None], strip)
        return strip, self.n[rows] + (kind == INSERT).long() - (kind == DELETE).long()

    def screen(self, act: Tensor, r: Tensor, kind: Tensor, p: Tensor, key: Tensor, dist: Tensor) -> Tensor:
        """Mask of the candidates worth scoring in full: one window each decides.

        An edit before the first flag must fix it: its probe is the window that now predicts the
        flagged key, and a candidate whose probe still alerts is dropped. For an edit at the flag
        the probe is the first window after it. Per session the ``screen`` candidates with
        unflagged, least surprising probes go on.
        """
        w, dev = self.w, act.device
        strip, n_new = self.strips(act[r], kind, p, key)
        o = torch.where(kind == REPLACE, torch.where(dist == 0, 1, dist),
                        torch.where(kind == INSERT, dist + 1, (dist - 1).clamp(min=0)))
        reach = o <= w
        oc = o.clamp(max=w)
        idx = oc[:, None] + torch.arange(w + 1, device=dev)[None]
        probe = strip.gather(1, idx)
        q = p + oc
        valid = reach & (q >= w) & (q < n_new)
        margin, nll, _ = self.window_stats(probe[valid][:, :w], probe[valid][:, w])
        flagged = torch.zeros(len(r), dtype=torch.bool, device=dev)
        flagged[valid] = margin > self.a.threshold
        surprise = torch.zeros(len(r), device=dev)
        surprise[valid] = nll
        instance = (dist >= 1) | (kind == INSERT)
        ok = reach & ~(instance & flagged)
        order = torch.arange(len(r), device=dev)
        for value in (surprise, flagged.long(), (~ok).long(), r):  # least significant first
            order = order[torch.sort(value[order], stable=True).indices]
        _, counts = torch.unique_consecutive(r[order], return_counts=True)
        starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order), device=dev) - starts
        return ok & (rank < self.opts.screen)

    def evaluate(self, act: Tensor, r: Tensor, kind: Tensor, p: Tensor, key: Tensor) -> tuple[Tensor, ...]:
        """Per candidate: flags left in the session, new flags, and the edited session's surprise."""
        w, T, dev = self.w, self.T, act.device
        rows = act[r]
        strip, n_new = self.strips(rows, kind, p, key)
        win = strip.unfold(1, w + 1, 1)  # [M, W+1, W+1]: window o predicts edited position p + o
        q = p[:, None] + torch.arange(w + 1, device=dev)[None]
        valid = (q >= w) & (q < n_new[:, None])
        sel = win[valid]
        margin, nll, _ = self.window_stats(sel[:, :w], sel[:, w])
        after = torch.zeros(valid.shape, dtype=torch.bool, device=dev)
        after[valid] = margin > self.a.threshold
        after_nll = torch.zeros(valid.shape, device=dev)
        after_nll[valid] = nll
        # Old positions each new window stands for (insert: the first is new; delete: shifted by one).
        old = q + torch.where(kind == INSERT, -1, torch.where(kind == DELETE, 1, 0))[:, None]
        mapped = ~((kind == INSERT)[:, None] & (q == p[:, None]))
        flags = self.flags
        before_mapped = flags[rows[:, None], old.clamp(0, T - 1)] & mapped & (old < T)
        # The old region these windows replace: replace p..p+W, insert p..p+W-1, delete p..p+W+1.
        u = torch.arange(w + 2, device=dev)[None]
        span = torch.where(kind == REPLACE, w + 1, torch.where(kind == INSERT, w, w + 2))[:, None]
        region = (u < span)
        old_idx = (p[:, None] + u).clamp(max=T - 1)
        before = (flags[rows[:, None], old_idx] & region).sum(dim=1)
        before_nll = (self.nll[rows[:, None], old_idx] * region).sum(dim=1)
        left = flags[rows].sum(dim=1) - before + after.sum(dim=1)
        new = (after & ~before_mapped).sum(dim=1)
        # Surprise of the whole edited session, less a bonus per predicted key: DeepLog has no
        # end-of-session, so every extra key costs surprise and a plain sum favours deletions.
        total = self.nll[rows].sum(dim=1) - before_nll + after_nll.sum(dim=1)
        return left, new, total - self.opts.length_bonus * (n_new - w)

    def step(self, act: Tensor) -> Tensor:
        """One round for the sessions ``act``: pick and apply each one's best edit; returns the edited rows."""
        r, kind, p, key, dist = self.candidates(act)
        if r.numel() and self.opts.screen:
            keep = self.screen(act, r, kind, p, key, dist)
            r, kind, p, key, dist = (t[keep] for t in (r, kind, p, key, dist))
        if r.numel() == 0:
            return r
        left, new, surprise = self.evaluate(act, r, kind, p, key)
        order = torch.arange(len(r), device=r.device)
        for value in (dist, kind, surprise, new, left, r):  # least significant first, stable sorts
            order = order[torch.sort(value[order], stable=True).indices]
        first = torch.ones(len(order), dtype=torch.bool, device=r.device)
        first[1:] = r[order][1:] != r[order][:-1]
        best = order[first]
        rows = act[r[best]]
        better = left[best] < self.flags[rows].sum(dim=1)
        best, rows = best[better], rows[better]
        self.apply(rows, kind[best], p[best], key[best])
        return rows

    def apply(self, rows: Tensor, kind: Tensor, p: Tensor, key: Tensor) -> None:
        """Apply one edit per row in place and record it (original-session coordinates)."""
        if rows.numel() == 0:
            return
        t = torch.arange(self.T, device=rows.device)[None]
        pp = p[:, None]
        X, orig = self.X[rows], self.orig[rows]
        opos = orig.gather(1, pp).squeeze(1)
        old = torch.where(kind == INSERT, -1, X.gather(1, pp).squeeze(1))
        self.records.append((rows, kind, opos, old, torch.where(kind == DELETE, -1, key), self.rounds[rows] + 1))
        self.touched[rows, opos] = True
        src = torch.where((kind == INSERT)[:, None] & (t > pp), t - 1, t.expand(len(rows), -1))
        src = torch.where((kind == DELETE)[:, None] & (t >= pp), t + 1, src).clamp(max=self.T - 1)
        at = (t == pp) & (kind != DELETE)[:, None]
        self.X[rows] = torch.where(at, key[:, None], X.gather(1, src))
        new_orig = orig.gather(1, src)
        self.orig[rows] = torch.where(at & (kind == INSERT)[:, None], -1, new_orig)
        self.n[rows] += (kind == INSERT).long() - (kind == DELETE).long()
        self.rounds[rows] += 1

    def run(self) -> None:
        dirty = torch.arange(len(self.seqs), device=self.X.device)
        self.rescore(dirty)
        self.initial = self.flags.clone()
        for _ in range(self.k):
            act = (self.flags.any(dim=1) & ~self.stopped).nonzero().flatten()
            if act.numel() == 0:
                break
            dirty = self.step(act)
            stop = torch.ones(len(self.seqs), dtype=torch.bool, device=act.device)
            stop[dirty] = False
            self.stopped |= stop
            self.rescore(dirty)

    # -- results -------------------------------------------------------------------------------
    def flags_of(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        """Flagged positions of each key sequence (the same padding as the search), one batched pass."""
        if not seqs:
            return []
        w, dev = self.w, self.X.device
        fill = self.a.pad_key if self.a.pad_key is not None else 0
        lens = [len(s) for s in seqs]
        width = self.pre + max(lens)
        x = torch.full((len(seqs), width), fill, dtype=torch.int64, device=dev)
        for i, s in enumerate(seqs):  # assembly of a few pruning candidates
            x[i, self.pre:self.pre + len(s)] = torch.as_tensor(s, device=dev)
        n = torch.as_tensor(lens, device=dev) + self.pre
        out = torch.zeros(len(seqs), width, dtype=torch.bool, device=dev)
        if width > w:
            win = x.unfold(1, w + 1, 1)
            valid = torch.arange(w, width, device=dev)[None] < n[:, None]
            sel = win[valid]
            margin, _, _ = self.window_stats(sel[:, :w], sel[:, w])
            part = torch.zeros(valid.shape, dtype=torch.bool, device=dev)
            part[valid] = margin > self.a.threshold
            out[:, w:] = part
        flagged = out.cpu().numpy()
        return [np.flatnonzero(flagged[i, self.pre:self.pre + lens[i]]) for i in range(len(seqs))]

    def results(self) -> list[SessionInterpretation]:
        s_count = len(self.seqs)
        edits: list[list[tuple[int, SessionEdit]]] = [[] for _ in range(s_count)]
        for rows, kind, opos, old, new, rnd in self.records:
            for s, kd, po, o, nw, rd in zip(*(t.tolist() for t in (rows, kind, opos, old, new, rnd))):
                edits[s].append((rd, SessionEdit(EDIT_KINDS[kd], po, None if o < 0 else o, None if nw < 0 else nw)))
        initial = self.initial.cpu().numpy()
        flagged = [tuple(np.flatnonzero(initial[i, self.pre:self.pre + len(s)]).tolist())
                   for i, s in enumerate(self.seqs)]
        final = self.flags.cpu().numpy()
        n = self.n.cpu().numpy()
        remaining = [tuple(np.flatnonzero(final[i, self.pre:n[i]]).tolist()) for i in range(s_count)]
        kept = self._prune(edits, remaining)
        fixes = self._fixes(kept, flagged, remaining)
        out = []
        for i, seq in enumerate(self.seqs):  # result assembly, after the search
            chosen = sorted(kept[i], key=lambda e: e.position)
            final_edits = tuple(self._describe(e, fixes[i].get(e.position, ())) for e in chosen)
            edited = apply_edits_with_origin(seq, chosen)[0]
            out.append(SessionInterpretation(session=seq, edited=edited, edits=final_edits, flagged=flagged[i],
                                             remaining=remaining[i], rounds=int(self.rounds[i])))
        return out

    def _describe(self, e: SessionEdit, fixes: Any) -> SessionEdit:
        t = self.a.template
        return SessionEdit(e.kind, e.position, e.old_key, e.new_key, fixes=fixes,
                           old_template=None if e.old_key is None else t(e.old_key),
                           new_template=None if e.new_key is None else t(e.new_key))

    def _prune(self, edits: list[list[tuple[int, SessionEdit]]], remaining: list[tuple[int, ...]]
               ) -> list[list[SessionEdit]]:
        """Drop, one per pass and latest first, edits whose undoing leaves the session normal."""
        kept = [[e for _, e in sorted(es, key=lambda t: t[0])] for es in edits]
        todo = [i for i in range(len(kept)) if len(kept[i]) > 1 and not remaining[i]]
        while todo:
            jobs = [(i, j) for i in todo for j in range(len(kept[i]))]
            flags = self.flags_of([apply_edits_with_origin(self.seqs[i], kept[i][:j] + kept[i][j + 1:])[0]
                                   for i, j in jobs])
            drop: dict[int, int] = {}
            for (i, j), f in zip(jobs, flags):
                if not len(f):
                    drop[i] = j  # the latest removable edit wins
            for i, j in drop.items():
                del kept[i][j]
            todo = [i for i in drop if len(kept[i]) > 1]
        return kept

    def _fixes(self, kept: list[list[SessionEdit]], flagged: list[tuple[int, ...]],
               remaining: list[tuple[int, ...]]) -> list[dict[int, tuple[int, ...]]]:
        """Per edit: original flagged positions that alert again when it alone is undone."""
        out: list[dict[int, tuple[int, ...]]] = [{} for _ in kept]
        jobs, seqs, origins = [], [], []
        for i, es in enumerate(kept):
            final_edited, final_origin = apply_edits_with_origin(self.seqs[i], es)
            still = {int(final_origin[q]) for q in remaining[i] if final_origin[q] >= 0}
            if len(es) == 1:
                out[i][es[0].position] = tuple(sorted(set(flagged[i]) - still))
                continue
            for j, e in enumerate(es):
                seq, origin = apply_edits_with_origin(self.seqs[i], es[:j] + es[j + 1:])
                jobs.append((i, e.position, still))
                seqs.append(seq)
                origins.append(origin)
        for (i, pos, still), f, origin in zip(jobs, self.flags_of(seqs), origins):
            back = {int(origin[q]) for q in f if origin[q] >= 0}
            out[i][pos] = tuple(sorted((back & set(flagged[i])) - still))
        return out
