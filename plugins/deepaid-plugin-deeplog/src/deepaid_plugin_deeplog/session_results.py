"""Results of the whole-session search (``sessions``): pruning, the flags each edit fixes, assembly.

After the rounds (``session_rounds``), edits that are not needed (undoing one leaves every
window normal) are dropped, one at a time, latest first. Each remaining edit reports the flagged
positions it fixes: those that alert again when it alone is undone.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.edits import EDIT_KINDS, SessionEdit, SessionInterpretation, apply_edits_with_origin
from deepaid_plugin_deeplog.session_rounds import SessionRounds


def flags_of(state: SessionRounds, seqs: list[np.ndarray]) -> list[np.ndarray]:
    """Flagged positions of each key sequence (the same padding as the search), one batched pass."""
    if not seqs:
        return []
    w, dev = state.w, state.X.device
    fill = state.a.pad_key if state.a.pad_key is not None else 0
    lens = [len(s) for s in seqs]
    width = state.pre + max(lens)
    x = torch.full((len(seqs), width), fill, dtype=torch.int64, device=dev)
    for i, s in enumerate(seqs):  # assembly of a few pruning candidates
        x[i, state.pre : state.pre + len(s)] = torch.as_tensor(s, device=dev)
    n = torch.as_tensor(lens, device=dev) + state.pre
    out = torch.zeros(len(seqs), width, dtype=torch.bool, device=dev)
    if width > w:
        win = x.unfold(1, w + 1, 1)
        valid = torch.arange(w, width, device=dev)[None] < n[:, None]
        sel = win[valid]
        margin, _, _ = state.window_stats(sel[:, :w], sel[:, w])
        part = torch.zeros(valid.shape, dtype=torch.bool, device=dev)
        part[valid] = margin > state.a.threshold
        out[:, w:] = part
    flagged = out.cpu().numpy()
    return [np.flatnonzero(flagged[i, state.pre : state.pre + lens[i]]) for i in range(len(seqs))]


def session_results(state: SessionRounds) -> list[SessionInterpretation]:
    """The result of every session: its kept edits (in position order), the flags they fix, what is left."""
    s_count = len(state.seqs)
    edits: list[list[tuple[int, SessionEdit]]] = [[] for _ in range(s_count)]
    for rows, kind, opos, old, new, rnd in state.records:
        for s, kd, po, o, nw, rd in zip(*(t.tolist() for t in (rows, kind, opos, old, new, rnd))):
            edits[s].append((rd, SessionEdit(EDIT_KINDS[kd], po, None if o < 0 else o, None if nw < 0 else nw)))
    initial = state.initial.cpu().numpy()
    flagged = [
        tuple(np.flatnonzero(initial[i, state.pre : state.pre + len(s)]).tolist()) for i, s in enumerate(state.seqs)
    ]
    final = state.flags.cpu().numpy()
    n = state.n.cpu().numpy()
    remaining = [tuple(np.flatnonzero(final[i, state.pre : n[i]]).tolist()) for i in range(s_count)]
    kept = _prune(state, edits, remaining)
    fixes = _fixes(state, kept, flagged, remaining)
    ranked = _ranked(state)
    alternatives = state.alternatives.tolist()
    keys = state.X.cpu().numpy()
    out = []
    for i, seq in enumerate(state.seqs):  # result assembly, after the search
        chosen = sorted(kept[i], key=lambda e: e.position)
        best = ranked[i][:1]
        if len(chosen) == 1 and best and _same(best[0], chosen[0]):  # described already, with its log-likelihood
            final_edits: tuple[SessionEdit, ...] = (attrs.evolve(best[0], fixes=fixes[i].get(chosen[0].position, ())),)
        else:
            final_edits = tuple(_describe(state.a, e, fixes[i].get(e.position, ())) for e in chosen)
        # Nothing pruned: the search's own keys are the edited session.
        pruned = len(chosen) < len(edits[i])
        edited = apply_edits_with_origin(seq, chosen)[0] if pruned else keys[i, state.pre : n[i]].copy()
        out.append(
            SessionInterpretation(
                session=seq,
                edited=edited,
                edits=final_edits,
                flagged=flagged[i],
                remaining=remaining[i],
                rounds=int(state.rounds[i]),
                alternatives=int(alternatives[i]),
                next_best=tuple(ranked[i][1:]),
            )
        )
    return out


def _describe(adapter: DeepLogAdapter, e: SessionEdit, fixes: Any) -> SessionEdit:
    t = adapter.template
    return SessionEdit(
        e.kind,
        e.position,
        e.old_key,
        e.new_key,
        fixes=fixes,
        old_template=None if e.old_key is None else t(e.old_key),
        new_template=None if e.new_key is None else t(e.new_key),
        log_likelihood=e.log_likelihood,
    )


def _same(a: SessionEdit, b: SessionEdit) -> bool:
    return (a.kind, a.position, a.old_key, a.new_key) == (b.kind, b.position, b.old_key, b.new_key)


def _ranked(state: SessionRounds) -> list[list[SessionEdit]]:
    """Per session, its best single-edit fixes of the first round, best first, with their log-likelihoods."""
    out: list[list[tuple[int, SessionEdit]]] = [[] for _ in state.seqs]
    tpl = state.a.template
    for part in state.ranked:  # described here once: the results take these records as they are
        for s, kd, po, o, nw, ll, rk in zip(*(t.tolist() for t in part)):
            old, new = (None, None) if o < 0 else (o, tpl(o)), (None, None) if nw < 0 else (nw, tpl(nw))
            edit = SessionEdit(EDIT_KINDS[kd], po, old[0], new[0], (), old[1], new[1], ll)
            out[s].append((rk, edit))
    return [[e for _, e in sorted(es, key=lambda t: t[0])] for es in out]


def _prune(
    state: SessionRounds, edits: list[list[tuple[int, SessionEdit]]], remaining: list[tuple[int, ...]]
) -> list[list[SessionEdit]]:
    """Drop, one per pass and latest first, edits whose undoing leaves the session normal."""
    kept = [[e for _, e in sorted(es, key=lambda t: t[0])] for es in edits]
    todo = [i for i in range(len(kept)) if len(kept[i]) > 1 and not remaining[i]]
    while todo:
        jobs = [(i, j) for i in todo for j in range(len(kept[i]))]
        flags = flags_of(
            state, [apply_edits_with_origin(state.seqs[i], kept[i][:j] + kept[i][j + 1 :])[0] for i, j in jobs]
        )
        drop: dict[int, int] = {}
        for (i, j), f in zip(jobs, flags):
            if not len(f):
                drop[i] = j  # the latest removable edit wins
        for i, j in drop.items():
            del kept[i][j]
        todo = [i for i in drop if len(kept[i]) > 1]
    return kept


def _fixes(
    state: SessionRounds,
    kept: list[list[SessionEdit]],
    flagged: list[tuple[int, ...]],
    remaining: list[tuple[int, ...]],
) -> list[dict[int, tuple[int, ...]]]:
    """Per edit: original flagged positions that alert again when it alone is undone."""
    out: list[dict[int, tuple[int, ...]]] = [{} for _ in kept]
    jobs, seqs, origins = [], [], []
    for i, es in enumerate(kept):
        still: set[int] = set()
        if remaining[i]:  # flags left: which original keys they sit on
            final_origin = apply_edits_with_origin(state.seqs[i], es)[1]
            still = {int(final_origin[q]) for q in remaining[i] if final_origin[q] >= 0}
        if len(es) == 1:
            out[i][es[0].position] = tuple(sorted(set(flagged[i]) - still))
            continue
        for j, e in enumerate(es):
            seq, origin = apply_edits_with_origin(state.seqs[i], es[:j] + es[j + 1 :])
            jobs.append((i, e.position, still))
            seqs.append(seq)
            origins.append(origin)
    for (i, pos, still), f, origin in zip(jobs, flags_of(state, seqs), origins):
        back = {int(origin[q]) for q in f if origin[q] >= 0}
        out[i][pos] = tuple(sorted((back & set(flagged[i])) - still))
    return out
