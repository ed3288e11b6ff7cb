"""Every single edit that makes a whole session normal, ranked by the session's likelihood.

A single edit can make a session normal only if it changes every flagged window, so it sits in the
first flagged window (positions ``j - W .. j`` of the first flag ``j``). There, a replacement or an
insertion puts a key where the model predicts from an unchanged context, so that key must be one of
its top-g guesses there. The candidates are therefore every deletion, and every replacement and
insertion by a top-g guess, at those ``W + 1`` positions: all the single edits that can make the
session normal, none missing (with padding; without it the first ``W`` keys are never predicted and
only deletions are tried there).

They are checked as a cascade, batched over every candidate of every session: first the flags
outside the windows an edit changes (no model call: one left there rules it out), then its changed
windows one at a time, the one that predicts the flagged key first; a candidate is dropped at its
first window that still alerts, so few windows reach the model. The survivors are the fixes: every
window normal. Per session they are ranked by ``rule``:

- ``"likelihood"``: the edited session's log-likelihood (the sum of ``log p(key)`` of its predicted
  keys), the exhaustive oracle's rule (``session_oracle``);
- ``"channel"`` (the default): that log-likelihood plus a prior on the kind of edit. A planted replace
  drew its key among the ``C' - 1`` other keys the model may see and a planted insert among all
  ``C'``, while a lost key drew none, so undoing a delete (an insert) gains ``log(C' - 1)`` nats over a
  replace (a uniform one-error channel), and undoing an insert (a delete) ``DELETE_PRIOR`` (measured:
  the channel's ``log((C' - 1) / C')`` tuned to -0.25 on the synthetic workflow logs). Measured better
  than the plain log-likelihood, which prefers deletions and misses most lost keys (``deepaid bench
  deeplog``, sessions cases: delete 0.38 -> 0.96 at g=9);

ties go to replace < insert < delete, then the edit nearest the flag. Edits that give the same
sequence (deleting either key of a run, inserting a key before or after an equal one) count once,
and are merged before the cascade (the one nearest the flag stays): ``alternatives`` is the number
of distinct edited sessions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from deepaid_plugin_deeplog.edits import DELETE, INSERT, REPLACE

if TYPE_CHECKING:
    from deepaid_plugin_deeplog.session_rounds import SessionRounds


#: The ranking rules of single-edit fixes (module docstring).
RULES = ("channel", "likelihood")
#: Nats added to a delete's log-likelihood under the ``channel`` rule (measured, see the module docstring).
DELETE_PRIOR = -0.25


def kind_prior(state: SessionRounds, kind: Tensor) -> Tensor:
    """Nats added per candidate by the ranking rule (0 for ``likelihood``)."""
    if state.opts.rule == "likelihood":
        return torch.zeros(kind.shape, dtype=torch.float64, device=kind.device)
    allowed = int(state.allowed.sum())
    table = torch.tensor([0.0, math.log(max(allowed - 1, 1)), DELETE_PRIOR], dtype=torch.float64, device=kind.device)
    return table[kind]


class Fixes(NamedTuple):
    """Distinct fixes of the sessions ``act``, ranked within each (``row`` indexes ``act``)."""

    row: Tensor
    kind: Tensor
    p: Tensor
    key: Tensor
    log_likelihood: Tensor
    """Log-likelihood of the edited session (float64)."""
    rank: Tensor
    """0 for each session's best fix."""
    per_session: Tensor
    """``[len(act)]`` distinct fixes per session."""


def _region(state: SessionRounds, rows: Tensor, kind: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """Flags and surprise of the old windows each edit changes (replace p..p+W, insert p..p+W-1, delete p..p+W+1)."""
    w, T = state.w, state.T
    u = torch.arange(w + 2, device=rows.device)[None]
    span = torch.where(kind == REPLACE, w + 1, torch.where(kind == INSERT, w, w + 2))[:, None]
    region = u < span
    idx = (p[:, None] + u).clamp(max=T - 1)
    flags = (state.flags[rows[:, None], idx] & region).sum(dim=1)
    nll = (state.nll[rows[:, None], idx].double() * region).sum(dim=1)
    return flags, nll


def _cascade(state: SessionRounds, rows: Tensor, kind: Tensor, p: Tensor, key: Tensor, dist: Tensor) -> Tensor:
    """Per candidate: the surprise of its changed windows (``inf`` where one of them alerts)."""
    w, dev = state.w, rows.device
    strip, n_new = state.strips(rows, kind, p, key)
    # The window that now predicts the first flagged key: it decides most candidates.
    start = torch.where(kind == REPLACE, dist, torch.where(kind == INSERT, dist + 1, (dist - 1).clamp(min=0)))
    start = start.clamp(max=w)
    total = torch.zeros(len(rows), dtype=torch.float64, device=dev)
    alive = torch.arange(len(rows), device=dev)
    span = torch.arange(w + 1, device=dev)[None]
    for s in range(w + 1):  # the W + 1 changed windows, each a batched pass over the survivors
        o = (start[alive] + s) % (w + 1)
        q = p[alive] + o
        judged = (q >= w) & (q < n_new[alive])
        idx, o = alive[judged], o[judged]
        if idx.numel():
            win = strip[idx].gather(1, o[:, None] + span)
            # Window o keeps the W - o keys before the edit: shared by every candidate at that place.
            margin, nll, _ = state.window_stats(win[:, :w], win[:, w], w - o)
            total[idx] += nll.double()
            bad = margin > state.a.threshold
            total[idx[bad]] = float("inf")
            alive = alive[~torch.isin(alive, idx[bad])]
        if alive.numel() == 0:
            break
    return total


def _canonical(state: SessionRounds, act: Tensor, r: Tensor, kind: Tensor, p: Tensor, key: Tensor) -> Tensor:
    """Position that names the edited sequence: equal keys around an insert or a delete give the same one."""
    X = state.X[act]  # once per session, indexed by each candidate's row ``r``
    t = torch.arange(X.shape[1], device=X.device)
    change = torch.ones_like(X, dtype=torch.bool)
    change[:, 1:] = X[:, 1:] != X[:, :-1]
    run_start = torch.where(change, t[None], 0).cummax(dim=1).values  # first index of each key's run
    at = lambda i: run_start[r, i.clamp(min=0)]  # noqa: E731
    before = X[r, (p - 1).clamp(min=0)]
    ins = torch.where((p > 0) & (before == key), at(p - 1), p)
    return torch.where(kind == INSERT, ins, torch.where(kind == DELETE, at(p), p))


def single_fixes(state: SessionRounds, act: Tensor) -> Fixes:
    """The distinct single-edit fixes of the sessions ``act`` (all flagged), ranked (module docstring)."""
    r, kind, p, key, dist = state.candidates(act, full=True)
    rows = act[r]
    region_flags, region_nll = _region(state, rows, kind, p)
    outside = state.flags[rows].sum(dim=1) - region_flags
    keep = outside == 0
    r, kind, p, key, dist, rows, region_nll = (t[keep] for t in (r, kind, p, key, dist, rows, region_nll))
    # Edits that give the same sequence (deleting either key of a run, ...) are one candidate: the nearest.
    canon = _canonical(state, act, r, kind, p, key)
    code = ((r * 3 + kind) * state.T + canon) * (state.c + 1) + key.clamp(min=-1) + 1
    order = torch.sort(dist, stable=True).indices
    order = order[torch.sort(code[order], stable=True).indices]
    first = torch.ones(len(order), dtype=torch.bool, device=r.device)
    first[1:] = code[order][1:] != code[order][:-1]
    once = order[first]
    r, kind, p, key, dist, rows, region_nll = (t[once] for t in (r, kind, p, key, dist, rows, region_nll))
    changed = _cascade(state, rows, kind, p, key, dist)
    ok = torch.isfinite(changed)
    r, kind, p, key, dist, rows = (t[ok] for t in (r, kind, p, key, dist, rows))
    nll = state.nll[rows].double().sum(dim=1) - region_nll[ok] + changed[ok]
    score = nll - kind_prior(state, kind)
    order = torch.arange(len(r), device=r.device)
    for value in (dist, kind, score, r):
        order = order[torch.sort(value[order], stable=True).indices]
    rs = r[order]
    count = torch.bincount(rs, minlength=len(act))
    starts = torch.cumsum(count, 0) - count
    rank = torch.arange(len(order), device=r.device) - starts[rs]
    return Fixes(rs, kind[order], p[order], key[order], -nll[order], rank, count)
