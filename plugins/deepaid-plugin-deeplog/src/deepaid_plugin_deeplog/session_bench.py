"""Session cases of ``deepaid bench deeplog``: whole sessions with one planted replace, insert or delete.

Every normal test session (no planted change, no alert) gets each kind of edit once, at a uniform
position (``session_plants``); sessions of ``window + 1`` to 100 keys that the model then flags are
kept. Per planted kind and method: position accuracy and kind accuracy of the main edit (ours: the
edit that fixes the most flagged positions; a baseline's: its first), flip (every window of the
edited session normal, re-judged by detection), mean edits and sessions per second.

Baselines:

- ``next-key-top-guess``: window by window from the start, a flagged next key is replaced by the
  model's top guess (later windows see the replaced keys). Always normal; always "replace".
- ``<method>+top-position``: the attribution baselines of ``window_baselines`` on each session's
  first flagged window; its top position, replaced by the best verified key, is the session's one edit.

Beside them, per planted kind, the first edit at k=1 (right when it restores the clean session) of
ours and of the exhaustive likelihood oracle (``session_oracle``, on the first ``ORACLE_N`` sessions
of each kind), the median number of ``alternatives``, flip and sessions/s (``first_edit_notes``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_plugin_deeplog.detection import detect, make_windows
from deepaid_plugin_deeplog.edits import SessionEdit, apply_edits
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS, Experiment
from deepaid_plugin_deeplog.parsing import PAD_KEY
from deepaid_plugin_deeplog.preset import DeepLogInterpreter
from deepaid_plugin_deeplog.session_plants import (
    EXPLAINED_BY,
    PlantedSessions,
    keep,
    plant_sessions,
    sessions_from_windows,
)
from deepaid_plugin_deeplog.window_baselines import attribution_explainers
from deepaid_plugin_deeplog.window_scores import WindowScorer

KINDS = ("replace", "insert", "delete")
MAX_LEN = 100
#: Planted sessions per kind that the exhaustive oracle explains (it re-scores ~2 W C whole sessions each).
ORACLE_N = 30


def flagged_positions(adapter: DeepLogAdapter, sessions: list[np.ndarray]) -> list[np.ndarray]:
    """Flagged positions of each session (padded windows, the detection path)."""
    win = make_windows(sessions, adapter.window, pad_key=PAD_KEY)
    flags = detect(adapter, win.windows, win.next_keys)
    order = np.argsort(win.session, kind="stable")
    hit = np.split(
        np.where(flags, win.position, -1)[order], np.cumsum(np.bincount(win.session, minlength=len(sessions)))[:-1]
    )
    return [h[h >= 0] for h in hit]


def session_alerts(ex: Experiment, adapter: DeepLogAdapter, seed: int = 0, n: int | None = None) -> PlantedSessions:
    """Each kind planted once in every normal test session; the flagged ones of W+1..100 keys."""
    sessions = sessions_from_windows(ex.test)
    flagged = flagged_positions(adapter, sessions)
    normal = [s for s, f, lab in zip(sessions, flagged, ex.test_labels) if not len(f) and not lab]
    keys = np.asarray([k for k in range(adapter.num_keys) if k not in adapter.reserved()])
    parts = []
    for i, kind in enumerate(KINDS):
        planted = plant_sessions(normal, (kind,), keys, seed=seed + i, min_len=adapter.window + 1, max_len=MAX_LEN)
        hit = np.asarray([len(f) > 0 for f in flagged_positions(adapter, list(planted.sessions))])
        chosen = np.flatnonzero(hit)[:n]
        mask = np.zeros(len(planted), dtype=bool)
        mask[chosen] = True
        parts.append(keep(planted, mask))
    return PlantedSessions(
        *(sum((getattr(p, f) for p in parts), ()) for f in ("sessions", "originals", "kinds", "truth"))
    )


def next_key_top_guess(adapter: DeepLogAdapter, sessions: list[np.ndarray]) -> list[list[SessionEdit]]:
    """The trivial session baseline: every flagged next key replaced by the top guess, left to right."""
    w, dev = adapter.window, adapter.device
    lens = torch.as_tensor([len(s) for s in sessions], device=dev)
    x = torch.full((len(sessions), w + int(lens.max())), PAD_KEY, dtype=torch.int64, device=dev)
    for i, s in enumerate(sessions):  # padding the input
        x[i, w : w + len(s)] = torch.as_tensor(s, device=dev)
    original = x.clone()
    allowed = torch.ones(adapter.num_keys, dtype=torch.bool, device=dev)
    allowed[adapter.reserved()] = False
    scorer = WindowScorer(adapter)
    for t in range(w, x.shape[1]):  # positions in order: each depends on the keys fixed before it
        live = (lens + w > t).nonzero().flatten()
        logits = scorer.logits(x[live, t - w : t])
        bad = topg_margin(logits, x[live, t], adapter.num_candidates) > adapter.threshold
        guess = logits.masked_fill(~allowed[None], float("-inf")).argmax(dim=1)
        x[live[bad], t] = guess[bad]
    changed = (x != original).cpu().numpy()
    xs, os_ = x.cpu().numpy(), original.cpu().numpy()
    return [
        [SessionEdit("replace", q - w, os_[i, q], xs[i, q]) for q in np.flatnonzero(changed[i])]
        for i in range(len(sessions))
    ]


def attribution_top_position(
    adapter: DeepLogAdapter, explain: Callable[[np.ndarray, int], Any], sessions: list[np.ndarray]
) -> list[list[SessionEdit]]:
    """A window attribution baseline on each session's first flagged window, as one session edit."""
    w = adapter.window
    first = [int(f[0]) for f in flagged_positions(adapter, sessions)]
    padded = [np.concatenate([np.full(w, PAD_KEY, dtype=np.int64), s]) for s in sessions]
    windows = np.stack([p[q : q + w + 1] for p, q in zip(padded, first)])  # the window predicting key q
    batch = explain(windows, 0)
    out: list[list[SessionEdit]] = []
    for i, (q, changed) in enumerate(zip(first, batch.changed)):  # result assembly
        pos = q - w + int(changed[0]) if len(changed) else -1
        if pos < 0:
            out.append([])
            continue
        out.append([SessionEdit("replace", pos, sessions[i][pos], batch.references[i, int(changed[0])])])
    return out


def score_methods(
    adapter: DeepLogAdapter,
    planted: PlantedSessions,
    methods: dict[str, Callable[[list[np.ndarray]], tuple[list[list[SessionEdit]], list[int]]]],
) -> list[tuple[Any, ...]]:
    """Rows ``(kind, method, flip, position acc., edits, sessions/s, kind acc.)`` per planted kind."""
    rows = []
    for kind in KINDS:
        part = planted.subset(kind)
        if not len(part):
            continue
        seqs = list(part.sessions)
        for name, method in methods.items():
            started = time.perf_counter()
            edits, main = method(seqs)
            rate = len(seqs) / (time.perf_counter() - started)
            edited = [apply_edits(s, e) for s, e in zip(seqs, edits)]
            flip = np.mean([not len(f) for f in flagged_positions(adapter, edited)])
            pos = np.mean([bool(e) and e[m].position in t for e, m, t in zip(edits, main, part.truth)])
            kd = np.mean([bool(e) and e[m].kind == EXPLAINED_BY[kind] for e, m in zip(edits, main)])
            rows.append(
                (
                    kind,
                    name,
                    float(flip),
                    float(pos),
                    float(np.mean([len(e) for e in edits])),
                    rate,
                    float(kd),
                    len(seqs),
                )
            )
    return rows


def session_methods(
    interp: Any, adapter: DeepLogAdapter, attribution: dict[str, Any], k: int = 3
) -> dict[str, Callable[[list[np.ndarray]], tuple[list[list[SessionEdit]], list[int]]]]:
    """Ours and the baselines as ``sessions -> (edits per session, index of the main edit)``."""

    def ours(seqs: list[np.ndarray]) -> tuple[list[list[SessionEdit]], list[int]]:
        batch = interp.interpret_sessions(seqs, k=k)
        edits = [list(r.edits) for r in batch]
        return edits, [int(np.argmax([len(e.fixes) for e in es])) if es else 0 for es in edits]

    def first_edit(run: Callable[[list[np.ndarray]], list[list[SessionEdit]]]) -> Callable[..., Any]:
        return lambda seqs: (lambda edits: (edits, [0] * len(edits)))(run(seqs))

    methods: dict[str, Callable[..., Any]] = {
        "deepaid": ours,
        "next-key-top-guess": first_edit(lambda s: next_key_top_guess(adapter, s)),
    }
    for name, explain in attribution.items():
        # The default argument binds this explainer; mypy cannot infer a lambda with one where one argument is expected.
        methods[name] = first_edit(lambda s, explain=explain: attribution_top_position(adapter, explain, s))  # type: ignore[misc]
    return methods


def session_rows(
    ex: Experiment, num_candidates: int, *, seed: int = 0, n: int | None = None, k: int = 3
) -> tuple[list[tuple[Any, ...]], str]:
    """Report rows ``(case, method, flip, position acc., -, -, edits, sessions/s, kind acc.)`` at top-g,
    and a note with our throughput on all planted sessions in one call (best of 3)."""
    adapter = DeepLogAdapter(ex.model, num_candidates=num_candidates, templates=ex.templates, **RESERVED_KEYS)
    interp = deepaid_sdk.create("deeplog", model=adapter, k=1)
    attribution = attribution_explainers(adapter)
    planted = session_alerts(ex, adapter, seed=seed, n=n)
    methods = session_methods(interp, adapter, attribution, k=k)
    for method in methods.values():  # one-time set-up (autograd, allocator) is not timed
        method(list(planted.sessions[:4]))
    rows = score_methods(adapter, planted, methods)
    firsts = first_edit_notes(adapter, interp, planted)
    seqs = list(planted.sessions)
    assert isinstance(interp, DeepLogInterpreter)
    best = min(_timed(lambda: interp.interpret_sessions(seqs, k=k)) for _ in range(3))
    lengths = [len(s) for s in seqs]
    note = (
        f"sessions-g{num_candidates}: deepaid throughput on all {len(seqs)} planted sessions in one call "
        f"(lengths {min(lengths)}-{max(lengths)}, mean {np.mean(lengths):.1f}), best of 3: "
        f"{len(seqs) / best:,.0f} sessions/s with {torch.get_num_threads()} torch threads"
    )
    note = "\n".join([note, *firsts])
    return [
        (f"sessions-g{num_candidates}-{kind}", name, flip, pos, None, None, edits, rate, kd)
        for kind, name, flip, pos, edits, rate, kd, _ in rows
    ], note


def restores(session: np.ndarray, edit: SessionEdit | None, original: np.ndarray) -> bool:
    """The edit turns the planted session back into the clean one."""
    return edit is not None and np.array_equal(apply_edits(session, [edit]), original)


def first_edit_notes(
    adapter: DeepLogAdapter, interp: Any, planted: PlantedSessions, oracle_n: int = ORACLE_N
) -> list[str]:
    """Per planted kind: first-edit accuracy (k=1) of ours beside the exhaustive likelihood oracle.

    An edit counts when it restores the clean session. The oracle (``session_oracle``) runs on the
    first ``oracle_n`` sessions of each kind, ours on all of them and on that same subset.
    """
    from deepaid_plugin_deeplog.session_oracle import oracle

    g, out = adapter.num_candidates, []
    for kind in KINDS:
        part = planted.subset(kind)
        if not len(part):
            continue
        seqs = list(part.sessions)
        started = time.perf_counter()
        batch = interp.interpret_sessions(seqs, k=1)
        rate = len(seqs) / (time.perf_counter() - started)
        ours = [restores(s, r.edits[0] if r.edits else None, o) for s, r, o in zip(seqs, batch, part.originals)]
        m = min(oracle_n, len(seqs))
        orc = oracle(adapter, seqs[:m])
        best = [restores(s, o.edit, c) for s, o, c in zip(seqs, orc, part.originals)]
        alts = np.asarray([r.alternatives for r in batch])
        out.append(
            f"sessions-g{g}-{kind} first edit (k=1, restores the clean session): deepaid {np.mean(ours):.3f} "
            f"(n={len(seqs)}); on the first {m}: deepaid {np.mean(ours[:m]):.3f}, likelihood oracle "
            f"{np.mean(best):.3f}; alternatives median {np.median(alts):.0f} (unique {np.mean(alts == 1):.2f}); "
            f"flip {np.mean([r.flipped for r in batch]):.3f}; {rate:,.0f} sessions/s"
        )
    return out


def _timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started
