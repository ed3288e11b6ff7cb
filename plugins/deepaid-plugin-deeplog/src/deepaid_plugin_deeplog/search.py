"""The ``deeplog`` reference search: discrete key replacements chosen by gradient, verified by the model.

For a batch of alerting key sequences ``[B, W+1]`` (window + next key):

1. One forward and backward over the whole batch on one-hot windows gives the gradient of the
   next key's log-probability with respect to every (position, key) cell.
2. *Saliency test* (the 2021 DeepAID rule, thresholds overridable): when the model is confident
   about some other next key (top probability > ``confidence``) and the window hardly matters
   (largest gradient of the fidelity loss ``relu(1/(g+1) - p_next)`` below ``grad_tol``), the
   unexpected event is the next key itself; otherwise something in the window is.
3. Candidates: the ``candidates`` (position, key) replacements with the largest first-order gain
   ``grad[w, c] - grad[w, current]``, plus the next key replaced by the model's top guesses.
4. Every candidate is checked by the model in one batched forward (``[B * M]`` sequences); a
   candidate is accepted when the model accepts the sequence (next key in its top g).
5. Per sample: the accepted candidate of the family the test blamed (window or next key), with the
   fewest replacements, then the largest margin; the other family is the fallback. With K > 1,
   rows whose window has no accepted candidate take their best-scoring one and repeat (greedy).

Every sequence the model sees is built from integer keys, so the one-hot constraint holds at
every step by construction.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_sdk import ReferenceSearch
from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.constraints import Constraint, changeable_mask, max_changes
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.model.rnn import rnn_gradients
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search import rank_changes, score_in_chunks

VERDICTS = ("saliency", "window", "next")
#: Verdicts in ``details``: what the reference changes (NONE: no candidate was allowed to change).
NEXT, WINDOW, NORMAL, NONE = "next key", "window", "normal", "none"


@attrs.frozen
class _Gradient:
    """One forward+backward at a batch of sequences."""

    logits: Tensor
    log_p_next: Tensor
    grad: Tensor
    """``[b, W, C]`` gradient of log p(next key) with respect to the one-hot window."""


def key_gradient(adapter: DeepLogAdapter, seqs: Tensor) -> _Gradient:
    """One forward+backward: logits, log p(next key) and its gradient w.r.t. the one-hot window."""
    w = adapter.window
    onehot = adapter.one_hot(seqs[:, :w]).requires_grad_(True)
    with torch.enable_grad(), rnn_gradients(adapter.model, adapter.device):
        logits = adapter.logits(onehot)
        log_p = logits.log_softmax(dim=1).gather(1, seqs[:, w:]).squeeze(1)
        (grad,) = torch.autograd.grad(log_p.sum(), onehot)
    return _Gradient(logits.detach(), log_p.detach(), grad)


class DeepLogSearch(ReferenceSearch):
    """Fewest key replacements that make DeepLog accept the sequence (see the module docstring).

    :param candidates: window replacements verified per sample and round.
    :param next_candidates: next-key replacements (the model's top guesses) verified per sample.
    :param confidence: saliency test, top next-key probability above which the model is "confident".
    :param grad_tol: saliency test, largest fidelity-loss gradient below which the window is not to blame.
    :param fidelity_bound: the bound b of the fidelity loss ``relu(b - p_next)``; default ``1/(g+1)``
        (a next key with probability above it is always in the top g).
    :param verdict: ``saliency`` (the test decides), ``window`` (window first, next key as fallback)
        or ``next`` (always the next key).
    """

    name = "deeplog"

    def __init__(
        self,
        candidates: int = 8,
        next_candidates: int = 2,
        confidence: float = 0.4,
        grad_tol: float = 0.01,
        fidelity_bound: float | None = None,
        verdict: str = "saliency",
    ) -> None:
        self.candidates = check_positive_int(candidates, "candidates")
        self.next_candidates = check_positive_int(next_candidates, "next_candidates")
        self.confidence = check_finite_number(confidence, "confidence")
        self.grad_tol = check_finite_number(grad_tol, "grad_tol")
        if fidelity_bound is not None:
            fidelity_bound = check_finite_number(fidelity_bound, "fidelity_bound")
            if not 0.0 < fidelity_bound <= 1.0:
                raise ValueError(f"fidelity_bound: expected a probability in (0, 1]; got {fidelity_bound}")
        self.fidelity_bound = fidelity_bound
        if verdict not in VERDICTS:
            raise ValueError(f"verdict: expected one of {VERDICTS}; got {verdict!r}")
        self.verdict = verdict

    def describe(self) -> dict[str, Any]:
        return {
            "search": self.name,
            "candidates": self.candidates,
            "next_candidates": self.next_candidates,
            "confidence": self.confidence,
            "grad_tol": self.grad_tol,
            "fidelity_bound": self.fidelity_bound,
            "verdict": self.verdict,
        }

    # -- candidates --------------------------------------------------------------------------
    def _window_candidates(
        self, adapter: DeepLogAdapter, base: Tensor, grad: Tensor, movable: Tensor, allowed: Tensor, touched: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``[b, M, W+1]`` sequences, each one window replacement away from ``base``, and validity ``[b, M]``."""
        w, c = adapter.window, adapter.num_keys
        cur = base[:, :w]
        gain = grad - grad.gather(2, cur[..., None])
        ok = (movable[:, :w] & ~touched[:, :w])[..., None] & allowed[None, None, :]
        ok = ok & (torch.arange(c, device=base.device)[None, None, :] != cur[..., None])
        gain = gain.masked_fill(~ok, float("-inf")).reshape(base.shape[0], w * c)
        m = min(self.candidates, w * c)
        top = gain.topk(m, dim=1)
        pos, key = top.indices // c, top.indices % c
        cand = base[:, None, :].repeat(1, m, 1)
        cand.scatter_(2, pos[..., None], key[..., None])
        return cand, torch.isfinite(top.values)

    def _next_candidates(
        self, adapter: DeepLogAdapter, base: Tensor, logits: Tensor, movable: Tensor, allowed: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``[b, n, W+1]``: the next key replaced by the model's top guesses, and validity ``[b, n]``."""
        w = adapter.window
        masked = logits.masked_fill(~allowed[None, :], float("-inf"))
        masked = masked.scatter(1, base[:, w:], float("-inf"))
        n = min(self.next_candidates, adapter.num_keys - 1)
        top = masked.topk(n, dim=1)
        cand = base[:, None, :].repeat(1, n, 1)
        cand[:, :, w] = top.indices
        return cand, torch.isfinite(top.values) & movable[:, w:]

    # -- the search --------------------------------------------------------------------------
    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        if not isinstance(adapter, DeepLogAdapter):
            raise TypeError(f"adapter: the deeplog search needs a DeepLogAdapter; got {type(adapter).__name__}")
        started = time.perf_counter()
        x = anomalies
        w, dev = adapter.window, x.device
        g = adapter.num_candidates
        k = min(max_changes(constraints) or 1, w)
        bound = self.fidelity_bound if self.fidelity_bound is not None else 1.0 / (g + 1)
        accept_below = adapter.threshold - adapter.eps
        movable = changeable_mask(constraints, x)
        if adapter.pad_key is not None:
            movable = movable & (x != adapter.pad_key)
        allowed = torch.ones(adapter.num_keys, dtype=torch.bool, device=dev)
        allowed[adapter.reserved()] = False

        with torch.no_grad():
            g0 = _gradient_chunked(adapter, x)
            score0 = topg_margin(g0.logits, x[:, w], g)
            alert = score0 > adapter.threshold
            test = self._saliency_test(adapter, x, g0, movable, bound)
            nxt = self._next_family(adapter, x, g0.logits, movable, allowed)
            next_ok = nxt.score <= accept_below
            # Window family, only where it is needed: rows blaming the window, or whose next key fails.
            todo = (alert & (~test.blame_next | ~next_ok)).nonzero().flatten()
            win = self._window_family(adapter, x, todo, g0.grad[todo], movable, allowed, k, accept_below)
            use_next, use_win = _choose(test.blame_next, alert, nxt, win, accept_below)
            refs = torch.where(use_next[:, None], nxt.ref, torch.where(use_win[:, None], win.ref, x))
            ref_scores = torch.where(use_next, nxt.score, torch.where(use_win, win.score, score0))
            steps = torch.where(use_next, nxt.steps, torch.where(use_win, win.steps, 0))

        params = {**self.describe(), "k": k, "fidelity_bound": bound, "num_candidates": g}
        batch = _assemble(adapter, x, refs, score0, ref_scores, steps, started, self.name, params)
        return attrs.evolve(batch, details=_details(adapter, batch, test, use_next, use_win, alert))

    def _saliency_test(
        self, adapter: DeepLogAdapter, x: Tensor, g0: _Gradient, movable: Tensor, bound: float
    ) -> _Saliency:
        """Per row of ``x``: whether the next key is to blame (the saliency test, or the fixed ``verdict``)."""
        b, w, dev = x.shape[0], adapter.window, x.device
        top_prob = g0.logits.softmax(dim=1).max(dim=1).values
        p_next = g0.log_p_next.exp()
        # Gradient of the fidelity loss relu(bound - p_next) = -p_next * grad(log p_next) where active.
        fid = (p_next * (p_next < bound))[:, None, None] * g0.grad
        max_grad = fid.masked_fill(~movable[:, :w, None], 0.0).abs().amax(dim=(1, 2))
        if self.verdict == "saliency":
            blame_next = (top_prob > self.confidence) & (max_grad < self.grad_tol)
        else:
            blame_next = torch.full((b,), self.verdict == "next", dtype=torch.bool, device=dev)
        blame_next = (blame_next & movable[:, w]) | ~movable[:, :w].any(dim=1)
        return _Saliency(blame_next, top_prob, p_next, max_grad)

    def _next_family(
        self, adapter: DeepLogAdapter, x: Tensor, logits: Tensor, movable: Tensor, allowed: Tensor
    ) -> _Family:
        """The best next-key replacement per row: the window is unchanged, so ``logits`` verify it exactly."""
        b, w, g = x.shape[0], adapter.window, adapter.num_candidates
        rows = torch.arange(b, device=x.device)
        next_cand, next_valid = self._next_candidates(adapter, x, logits, movable, allowed)
        next_scores = topg_margin(
            logits.repeat_interleave(next_cand.shape[1], 0), next_cand[:, :, w].reshape(-1), g
        ).reshape(b, -1)
        next_scores = next_scores.masked_fill(~next_valid, float("inf"))
        best_next = next_scores.argmin(dim=1)
        return _Family(
            next_cand[rows, best_next], next_scores[rows, best_next], torch.ones(b, dtype=torch.int64, device=x.device)
        )

    def _window_family(
        self,
        adapter: DeepLogAdapter,
        x: Tensor,
        todo: Tensor,
        grad: Tensor,
        movable: Tensor,
        allowed: Tensor,
        k: int,
        accept_below: float,
    ) -> _Family:
        """The best window replacements of the rows ``todo`` (``grad``: theirs at ``x``), up to ``k`` greedy rounds.

        Rows not in ``todo`` keep ``x`` with an infinite score and no rounds.
        """
        b, w, dev = x.shape[0], adapter.window, x.device
        win_ref, win_score = x.clone(), torch.full((b,), float("inf"), device=dev)
        rounds = torch.zeros(b, dtype=torch.int64, device=dev)
        for r in range(1, k + 1):
            if todo.numel() == 0:
                break
            base = win_ref[todo]
            if r > 1:
                grad = _gradient_chunked(adapter, base).grad
            cand, valid = self._window_candidates(adapter, base, grad, movable[todo], allowed, base != x[todo])
            s = score_in_chunks(adapter, cand.reshape(-1, w + 1), _CHUNK).reshape(len(todo), -1)
            s = s.masked_fill(~valid, float("inf"))
            pick = s.argmin(dim=1)
            sub = torch.arange(len(todo), device=dev)
            found = torch.isfinite(s[sub, pick]) & (s[sub, pick] < win_score[todo])
            upd = todo[found]
            win_ref[upd] = cand[sub, pick][found]
            win_score[upd] = s[sub, pick][found]
            rounds[upd] = r
            # Greedy: rows still not accepted build on their best candidate in the next round.
            todo = upd[win_score[upd] > accept_below]
        return _Family(win_ref, win_score, rounds)


@attrs.frozen
class _Saliency:
    """The saliency test per row, and the numbers it read (reported in ``details``)."""

    blame_next: Tensor
    top_prob: Tensor
    p_next: Tensor
    max_grad: Tensor


@attrs.frozen
class _Family:
    """The best reference of one family (next key or window) per row: keys, score, replacements made."""

    ref: Tensor
    score: Tensor
    steps: Tensor


def _choose(
    blame_next: Tensor, alert: Tensor, nxt: _Family, win: _Family, accept_below: float
) -> tuple[Tensor, Tensor]:
    """Per row: take the next-key reference, the window one, or neither (``use_next``, ``use_win``).

    The family the test blamed wins when it is accepted, the other is the fallback.
    """
    next_ok = nxt.score <= accept_below
    win_ok = win.score <= accept_below
    use_next = torch.where(blame_next, next_ok | ~win_ok, ~win_ok & next_ok)
    # Neither family accepted: keep the lower score (the result then reports flipped=False);
    # with no valid candidate at all (everything frozen) the anomaly stays as it is.
    neither = ~next_ok & ~win_ok
    use_next = torch.where(neither, (nxt.score <= win.score) & torch.isfinite(nxt.score), use_next)
    use_next = use_next & alert
    use_win = alert & ~use_next & torch.isfinite(win.score)
    return use_next, use_win


def _details(
    adapter: DeepLogAdapter,
    batch: InterpretationBatch,
    test: _Saliency,
    use_next: Tensor,
    use_win: Tensor,
    alert: Tensor,
) -> tuple[dict[str, Any], ...]:
    """Per row: the verdict, the saliency test's blame and numbers, and the changed keys with their templates."""
    verdict = [
        NEXT if n else WINDOW if wi else NONE if a else NORMAL
        for n, wi, a in zip(use_next.tolist(), use_win.tolist(), alert.tolist())
    ]
    saliency = [NEXT if n else WINDOW for n in test.blame_next.tolist()]
    numbers = torch.stack([test.top_prob, test.p_next, test.max_grad], dim=1).double().cpu().tolist()
    return tuple(
        {
            "verdict": verdict[i],
            "saliency": saliency[i],
            "top_probability": numbers[i][0],
            "next_probability": numbers[i][1],
            "max_gradient": numbers[i][2],
            "changes": change_details(adapter, batch.anomalies[i], batch.references[i], batch.changed[i]),
        }
        for i in range(len(verdict))  # result assembly, after the search
    )


#: Rows per model call: small batches keep an LSTM's working set in cache on a CPU (measured:
#: forward+backward of 10,000 rows is about twice as fast in chunks of 512 as in chunks of 2048).
_GRAD_CHUNK = 512
_CHUNK = 1024


def _gradient_chunked(adapter: DeepLogAdapter, seqs: Tensor) -> _Gradient:
    parts = [key_gradient(adapter, part) for part in seqs.split(_GRAD_CHUNK)]
    if len(parts) == 1:
        return parts[0]
    return _Gradient(
        torch.cat([p.logits for p in parts]),
        torch.cat([p.log_p_next for p in parts]),
        torch.cat([p.grad for p in parts]),
    )


def _assemble(
    adapter: DeepLogAdapter,
    x: Tensor,
    refs: Tensor,
    scores: Tensor,
    ref_scores: Tensor,
    steps: Tensor,
    started: float,
    method: str,
    params: dict[str, Any],
) -> InterpretationBatch:
    """The batch of results from scores the search already has (no model call repeated).

    Rows with one change need no ranking; rows with several are ranked by the core's
    ``rank_changes`` (how much undoing each change raises the score), in one batched call.
    """
    changed_mask = (refs != x).cpu().numpy()
    counts = changed_mask.sum(axis=1)
    changed = [np.flatnonzero(row) for row in changed_mask]  # result assembly
    multi = np.flatnonzero(counts > 1)
    if multi.size:
        idx = torch.as_tensor(multi, device=x.device)
        for i, order in zip(multi, rank_changes(adapter, x[idx], refs[idx])):
            changed[i] = order
    return InterpretationBatch(
        anomalies=x.cpu().numpy(),
        references=refs.cpu().numpy(),
        changed=tuple(changed),
        scores=scores.double().cpu().numpy(),
        reference_scores=ref_scores.double().cpu().numpy(),
        flipped=(ref_scores <= adapter.threshold).cpu().numpy(),
        steps=steps.cpu().numpy(),
        threshold=adapter.threshold,
        seconds=time.perf_counter() - started,
        method=method,
        params=params,
    )


def change_details(adapter: DeepLogAdapter, anomaly: Any, reference: Any, changed: Any) -> list[dict[str, Any]]:
    """Per changed position: the anomalous and reference keys and their templates (JSON-safe)."""
    return [
        {
            "position": int(p),
            "anomaly_key": int(anomaly[p]),
            "anomaly_template": adapter.template(anomaly[p]),
            "reference_key": int(reference[p]),
            "reference_template": adapter.template(reference[p]),
        }
        for p in changed
    ]
