"""The rounds of the whole-session search (``sessions``): padded session tensors and window scores.

``SessionRounds`` holds every session left-padded in one ``[S, T]`` key tensor, with the origin
of each key in the original session and per-position scores (margin, surprise, top guesses, rank).
One round (``step``) builds the candidate edits at each session's first flag, screens them with
one window each, scores the survivors on the ``W + 1`` windows they change and applies each
session's best; ``run`` repeats it up to ``k`` times. ``session_results`` turns the final state
into results.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_plugin_deeplog.edits import DELETE, INSERT, REPLACE
from deepaid_plugin_deeplog.session_fixes import Fixes, single_fixes
from deepaid_plugin_deeplog.window_scores import WindowScorer

_INF = float("inf")


class SearchOptions(Protocol):
    """The options of the session search that the rounds read (``sessions.SessionSearch``)."""

    expected: int
    suspects: int
    screen: int
    length_bonus: float
    next_best: int
    rule: str


class SessionRounds:
    """Padded session tensors and per-position scores, updated in place round by round."""

    def __init__(self, adapter: DeepLogAdapter, seqs: list[np.ndarray], k: int, pad: bool, opts: SearchOptions) -> None:
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
        self.alternatives = torch.zeros(s_count, dtype=torch.int64, device=dev)
        """Distinct single edits that make the original session normal (``session_fixes``)."""
        self.ranked: list[tuple[Tensor, ...]] = []
        """The best single-edit fixes of the original sessions: (row, kind, position, old, new, log-lik., rank)."""

    # -- scoring -------------------------------------------------------------------------------
    def window_stats(self, windows: Tensor, nxt: Tensor, shared: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Margin, surprise ``-log p`` and logits of (window, next key) pairs (``shared``: see ``WindowScorer``)."""
        logits = self.scorer.logits(windows, shared)
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
        for name, values, empty in (
            ("margin", margin, -_INF),
            ("nll", nll, 0.0),
            ("guess", guess, 0),
            ("rank", rank, 0),
        ):
            table = getattr(self, name)
            part = torch.full((len(rows), self.T - w, *values.shape[1:]), empty, dtype=table.dtype, device=rows.device)
            part[valid] = values.to(table.dtype)
            block = table[rows]
            block[:, :w] = empty
            block[:, w:] = part
            table[rows] = block

    @property
    def flags(self) -> Tensor:
        return self.margin > self.a.threshold

    # -- one round -----------------------------------------------------------------------------
    def candidates(self, act: Tensor, full: bool = False) -> tuple[Tensor, ...]:
        """Flat candidate edits of the sessions ``act``: (row, kind, position, key, distance).

        ``full``: every position of the first flagged window is a replace/insert site with every one of
        the model's top-g guesses there (the complete set of single edits that can fix the flag).
        """
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
        suspect = guessed if full else guessed & ((d[None] == 0) | (self.rank[act].gather(1, pc) >= self.opts.suspects))
        guesses = self.guess[act].gather(1, pc[..., None].expand(-1, -1, self.top))  # [a, D, top]
        cols = torch.arange(self.top, device=dev)
        width = torch.full_like(d, self.g) if full else torch.where(d == 0, self.g, self.m)
        usable = self.allowed[guesses]  # fewer allowed keys than guesses: the rest are padding
        rep_ok = (
            suspect[..., None] & (cols[None, None] < width[None, :, None]) & (guesses != key_at[..., None]) & usable
        )
        ins_ok = suspect[..., None] & (cols[None, None] < width[None, :, None]) & usable
        del_ok = ok & (self.n[act] - 1 > w)[:, None]
        parts = []
        for kind, mask, keys in (
            (REPLACE, rep_ok, guesses),
            (INSERT, ins_ok, guesses),
            (DELETE, del_ok[..., None], torch.full_like(guesses[..., :1], -1)),
        ):
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
        o = torch.where(
            kind == REPLACE,
            torch.where(dist == 0, 1, dist),
            torch.where(kind == INSERT, dist + 1, (dist - 1).clamp(min=0)),
        )
        reach = o <= w
        oc = o.clamp(max=w)
        idx = oc[:, None] + torch.arange(w + 1, device=dev)[None]
        probe = strip.gather(1, idx)
        q = p + oc
        valid = reach & (q >= w) & (q < n_new)
        margin, nll, _ = self.window_stats(probe[valid][:, :w], probe[valid][:, w], w - oc[valid])
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
        offset = torch.arange(w + 1, device=dev)[None].expand(len(rows), -1)[valid]
        margin, nll, _ = self.window_stats(sel[:, :w], sel[:, w], w - offset)
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
        region = u < span
        old_idx = (p[:, None] + u).clamp(max=T - 1)
        before = (flags[rows[:, None], old_idx] & region).sum(dim=1)
        before_nll = (self.nll[rows[:, None], old_idx] * region).sum(dim=1)
        left = flags[rows].sum(dim=1) - before + after.sum(dim=1)
        new = (after & ~before_mapped).sum(dim=1)
        # Surprise of the whole edited session, less a bonus per predicted key: DeepLog has no
        # end-of-session, so every extra key costs surprise and a plain sum favours deletions.
        total = self.nll[rows].sum(dim=1) - before_nll + after_nll.sum(dim=1)
        return left, new, total - self.opts.length_bonus * (n_new - w)

    def fix(self, act: Tensor) -> Tensor:
        """Apply the best single-edit fix where a session has one (``session_fixes``); returns those rows.

        In the first round the number of fixes and the best ``1 + next_best`` of them are recorded.
        """
        f = single_fixes(self, act)
        first = self.rounds[act] == 0
        self.alternatives[act[first]] = f.per_session[first]
        top = (f.rank <= self.opts.next_best) & first[f.row]
        self._rank_record(act, f, top)
        best = f.rank == 0
        rows = act[f.row[best]]
        self.apply(rows, f.kind[best], f.p[best], f.key[best])
        return rows

    def _rank_record(self, act: Tensor, f: Fixes, top: Tensor) -> None:
        rows, kind, p = act[f.row[top]], f.kind[top], f.p[top]
        opos = self.orig[rows, p]
        old = torch.where(kind == INSERT, -1, self.X[rows, p])
        new = torch.where(kind == DELETE, -1, f.key[top])
        self.ranked.append((rows, kind, opos, old, new, f.log_likelihood[top], f.rank[top]))

    def step(self, act: Tensor) -> Tensor:
        """One round for the sessions ``act``: each one's best edit applied; returns the edited rows.

        A session that one edit makes normal gets its most likely fix (``fix``); the others the
        edit that leaves the fewest flags (candidates, screen, evaluate).
        """
        fixed = self.fix(act)
        act = act[~torch.isin(act, fixed)]
        return torch.cat([fixed, self.reduce(act)])

    def reduce(self, act: Tensor) -> Tensor:
        """The fewest-flags edit of each session ``act`` (none has a single-edit fix); returns the edited rows."""
        if act.numel() == 0:
            return act
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
