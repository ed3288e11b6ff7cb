"""The exhaustive likelihood oracle of single session edits (the reference ``deepaid bench deeplog`` compares to).

For one flagged session every single edit is tried: each deletion, and each replacement and insertion by
*every* key the model may see (all keys but the reserved pad and unknown ones), at every position. Each
edited session is re-scored whole, every window, with no shortcut shared with the search. Among the
edited sessions that every window accepts, the one with the highest log-likelihood (the sum of
``log p(key)`` over every predicted key) wins; ``alternatives`` counts the distinct normal sessions (two
edits that give the same sequence, such as deleting either key of a run, count once).

Only positions that change every flagged window can make the session normal (an edit at ``p`` changes
the windows that predict ``p .. p + W``), so the oracle skips the others: this is exact, not a
heuristic. It is slow (``~2 W C`` edited sessions of every window per session) and meant for the
benchmark and the tests, not for users.
"""

from __future__ import annotations

from typing import Sequence

import attrs
import numpy as np
import torch

from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_plugin_deeplog.edits import SessionEdit, apply_edits
from deepaid_plugin_deeplog.window_scores import WindowScorer

#: Edited sessions scored per pass (bounds memory; results do not depend on it).
BLOCK = 2048


@attrs.frozen
class OracleResult:
    """The oracle's answer for one session."""

    edit: SessionEdit | None
    """The most likely single edit that makes every window normal (None: no single edit does)."""
    log_likelihood: float
    """Log-likelihood of the session with ``edit`` applied (NaN when there is none)."""
    alternatives: int
    """Distinct normal sessions one edit away (0: none)."""


def score_sessions(
    adapter: DeepLogAdapter, scorer: WindowScorer, seqs: Sequence[np.ndarray], pad: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per session: does every window accept it, and its log-likelihood (every window re-scored)."""
    w = adapter.window
    pre = w if pad else 0
    fill = adapter.pad_key if adapter.pad_key is not None else 0
    lens = np.asarray([len(s) for s in seqs])
    x = np.full((len(seqs), pre + int(lens.max())), fill, dtype=np.int64)
    for i, s in enumerate(seqs):  # assembling the batch
        x[i, pre : pre + len(s)] = s
    xt = torch.as_tensor(x, device=adapter.device)
    win = xt.unfold(1, w + 1, 1)
    valid = (
        torch.arange(w, xt.shape[1], device=xt.device)[None] < torch.as_tensor(lens + pre, device=xt.device)[:, None]
    )
    sel = win[valid]
    logits = scorer.logits(sel[:, :w])
    bad = torch.zeros(valid.shape, dtype=torch.bool, device=xt.device)
    bad[valid] = topg_margin(logits, sel[:, w], adapter.num_candidates) > adapter.threshold
    ll = torch.zeros(valid.shape, dtype=torch.float64, device=xt.device)
    ll[valid] = logits.log_softmax(dim=1).gather(1, sel[:, w:]).squeeze(1).double()
    return (~bad.any(dim=1)).cpu().numpy(), ll.sum(dim=1).cpu().numpy()


def _edits(adapter: DeepLogAdapter, seq: np.ndarray, flagged: np.ndarray) -> list[SessionEdit]:
    """Every single edit at a position that changes every flagged window."""
    w, n = adapter.window, len(seq)
    keys = [k for k in range(adapter.num_keys) if k not in adapter.reserved()]
    lo, hi = max(int(flagged.max()) - w, 0), min(int(flagged.min()), n - 1)
    out = []
    for p in range(lo, hi + 1):  # the oracle: exhaustive by design
        out.append(SessionEdit("delete", p, seq[p], None))
        out += [SessionEdit("replace", p, seq[p], k) for k in keys if k != seq[p]]
        out += [SessionEdit("insert", p, None, k) for k in keys]
    return out


def oracle(adapter: DeepLogAdapter, sessions: Sequence[np.ndarray], pad: bool | None = None) -> list[OracleResult]:
    """The oracle's answer for each session (see the module docstring); unflagged sessions get ``edit=None``."""
    pad = adapter.pad_key is not None if pad is None else pad
    scorer = WindowScorer(adapter)
    seqs = [np.asarray(s, dtype=np.int64) for s in sessions]
    w = adapter.window
    out = []
    for seq in seqs:  # sessions one by one, each one's edits batched
        normal, ll = score_sessions(adapter, scorer, [seq], pad)
        flags = _flagged(adapter, scorer, seq, pad)
        if normal[0] or not len(flags) or int(flags.max()) - int(flags.min()) > w + 1:
            out.append(OracleResult(None, float("nan"), 0))
            continue
        edits = _edits(adapter, seq, flags)
        edited = [apply_edits(seq, [e]) for e in edits]
        oks, lls = [], []
        for start in range(0, len(edited), BLOCK):
            ok, ll = score_sessions(adapter, scorer, edited[start : start + BLOCK], pad)
            oks.append(ok)
            lls.append(ll)
        ok, ll = np.concatenate(oks), np.concatenate(lls)
        if not ok.any():
            out.append(OracleResult(None, float("nan"), 0))
            continue
        distinct = {edited[i].tobytes() for i in np.flatnonzero(ok)}
        best = int(np.flatnonzero(ok)[np.argmax(ll[ok])])
        out.append(OracleResult(edits[best], float(ll[best]), len(distinct)))
    return out


def _flagged(adapter: DeepLogAdapter, scorer: WindowScorer, seq: np.ndarray, pad: bool) -> np.ndarray:
    w = adapter.window
    pre = w if pad else 0
    fill = adapter.pad_key if adapter.pad_key is not None else 0
    x = torch.as_tensor(np.concatenate([np.full(pre, fill, dtype=np.int64), seq]), device=adapter.device)
    win = x.unfold(0, w + 1, 1)
    bad = topg_margin(scorer.logits(win[:, :w]), win[:, w], adapter.num_candidates) > adapter.threshold
    return np.flatnonzero(bad.cpu().numpy()) + (w - pre)
