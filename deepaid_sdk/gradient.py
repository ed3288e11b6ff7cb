"""The DeepAID gradient search for continuous inputs, on a whole batch at once.

Objective per row: the soft penalties (fidelity + lambda * distance, ...) under hard
projections (box, integer, one-hot, frozen) and an L0 budget of K changed features.

The search runs in two phases, each a smooth problem:

1. *Where*: a dense descent without the L0 budget. Its change weighted by the smoothed
   gradient (|gradient| x |change| per feature, DeepAID's effectiveness) picks the K features
   whose change does most for the objective.
2. *How much*: descent on that fixed support, warm-started from the dense values there.

Choosing the support from the dense solution rather than one step at a time avoids locking
onto whichever features tie first (with Adam every step has the same size). Where the adapter
can reconstruct, a second start takes the K largest residual features with the reconstruction's
values; both starts run in the same batch and each row keeps its normal reference nearest the
anomaly. Gradients are taken at the projected point and applied to a continuous variable
(straight-through), so integer and one-hot features still move. A row stops as soon as every
constraint holds (fidelity included); finished rows are masked, not removed.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import attrs
import torch
from torch import Tensor

from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.adapters import ModelAdapter
from deepaid_sdk.constraints import (
    Constraint, FidelityConstraint, changeable_mask, evaluate_all, max_changes, project_all,
)
from deepaid_sdk.differentiable import require_input_gradient
from deepaid_sdk.distances import Distance
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search import ReferenceSearch, build_batch, prune_changes

STARTS = ("auto", "anomaly", "reconstruction", "both")
_BETA1, _BETA2 = 0.9, 0.99  # moment decays, as in Adam


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _keep_top(score: Tensor, k: int) -> Tensor:
    """``[B, N]`` bool mask of the k highest entries per row."""
    return torch.zeros_like(score, dtype=torch.bool).scatter_(1, score.topk(k, dim=1).indices, True)


@attrs.define(eq=False)
class _Descent:
    """What one descent returns per row: the best reference, whether it satisfied everything, when."""

    best: Tensor
    done: Tensor
    steps: Tensor
    grad_sq: Tensor
    """EMA of squared gradients per feature: how strongly the objective pulls on each."""


class GradientSearch(ReferenceSearch):
    """DeepAID's constrained gradient search (continuous features; integer/one-hot via projection).

    :param steps: step budget per phase and row.
    :param lr: optimiser step size, in input units.
    :param optimizer: ``"adam"`` or ``"sgd"`` (with momentum).
    :param init_noise: std of seeded Gaussian noise added to the start (robustness); 0 for none.
    :param seed: seed of that noise; the same noise pattern is used for every row, so a sample's
        result does not depend on the batch it is in.
    :param start: ``"anomaly"`` (the two phases above); ``"reconstruction"`` (the K largest
        residual features, starting from the detector's reconstruction); ``"both"``; ``"auto"`` =
        both where the adapter can reconstruct.
    :param prune: after the search, undo changes the reference does not need.
    :param patience: a row whose objective has not improved for this many steps stops (it keeps
        its best reference); the step budget still bounds every row.

    Step sizes adapt per row: a row whose objective went up (it overshot) shrinks its step, a
    row that improves grows it back towards ``lr``, so long moves and a reference settled just
    inside a tight threshold both work with one ``lr``.
    """

    name = "gradient"

    def __init__(
        self,
        steps: int = 300,
        lr: float = 0.05,
        optimizer: str = "adam",
        init_noise: float = 0.0,
        seed: int = 0,
        start: str = "auto",
        prune: bool = True,
        patience: int = 50,
    ) -> None:
        self.steps = check_positive_int(steps, "steps")
        self.lr = check_finite_number(lr, "lr", above=0)
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer: expected 'adam' or 'sgd'; got {optimizer!r}")
        self.optimizer = optimizer
        self.init_noise = check_finite_number(init_noise, "init_noise", minimum=0)
        self.seed = check_positive_int(seed, "seed", minimum=0)
        if start not in STARTS:
            raise ValueError(f"start: expected one of {STARTS}; got {start!r}")
        self.start = start
        self.prune = bool(prune)
        self.patience = check_positive_int(patience, "patience")

    def describe(self) -> dict[str, Any]:
        return {"search": self.name, "steps": self.steps, "lr": self.lr, "optimizer": self.optimizer,
                "init_noise": self.init_noise, "seed": self.seed, "start": self.start, "prune": self.prune,
                "patience": self.patience}

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        require_input_gradient(adapter, anomalies, self.name)
        started = time.perf_counter()
        if not any(isinstance(c, FidelityConstraint) for c in constraints):
            constraints = [FidelityConstraint().bind(adapter, distance), *constraints]
        shape = anomalies.shape[1:]
        a = _flat(anomalies)
        b, n = a.shape
        k = min(max_changes(constraints) or n, n)
        movable = changeable_mask(constraints, anomalies)

        def shaped(t: Tensor) -> Tensor:
            return t.reshape(t.shape[0], *shape)

        starts, supports, first_phase = [], [], []
        if self.start in ("auto", "both", "anomaly"):
            dense = self._descend(adapter, [c for c in constraints if c.max_changes is None],
                                  self._noisy(a, movable), a, movable, shaped, per_row=True)
            first_phase.append(dense.steps)
            if k < n:
                effect = (dense.grad_sq.sqrt() * (dense.best - a).abs()).masked_fill(~movable, -1.0)
                supports.append(_keep_top(effect, k) & movable)
                starts.append(torch.where(supports[-1], dense.best, a))
            else:
                supports.append(movable)
                starts.append(dense.best)
        if self.start in ("auto", "both", "reconstruction"):
            with torch.no_grad():
                rec = adapter.reconstruct(anomalies)
            if rec is None and self.start != "auto":
                raise ValueError(f"start={self.start!r}: {type(adapter).__name__} offers no reconstruction")
            if rec is not None:
                rec = _flat(rec).to(a.dtype)
                supports.append(_keep_top((rec - a).abs().masked_fill(~movable, -1.0), k) & movable)
                starts.append(torch.where(supports[-1], rec, a))
                first_phase.append(torch.zeros(b, dtype=torch.int64, device=a.device))
        s = len(starts)
        sparse = self._descend(adapter, constraints, torch.cat(starts), a.repeat(s, 1), torch.cat(supports), shaped)
        # A row's steps: its dense phase (if its start had one) plus its descent on the support.
        sparse.steps = sparse.steps + torch.cat(first_phase)
        refs, steps = self._pick(sparse, a, s, b, adapter, distance, shaped)
        refs = shaped(refs)
        if self.prune:
            refs = prune_changes(adapter, constraints, anomalies, refs)
        return build_batch(adapter, anomalies, refs, steps=steps, started=started, method=self.name,
                           params={**self.describe(), "k": k, "starts": s})

    def _noisy(self, a: Tensor, movable: Tensor) -> Tensor:
        if self.init_noise == 0:
            return a.clone()
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        noise = torch.randn(a.shape[1], generator=gen, dtype=torch.float64).to(a.device, a.dtype)
        return torch.where(movable, a + self.init_noise * noise, a)

    def _descend(self, adapter: ModelAdapter, constraints: list[Constraint], start: Tensor, a: Tensor,
                 movable: Tensor, shaped: Callable[[Tensor], Tensor], *, per_row: bool = False) -> _Descent:
        """Descend the summed penalties from ``start``, moving only ``movable`` features.

        ``per_row`` scales each row's gradient by its root mean square instead of each feature's
        (as Adam does), so features move in proportion to their pull: the change then says
        where the objective wants to move, which is what the support is chosen by.
        """
        u = start.clone()
        rows = u.shape[0]
        best = project_all(constraints, shaped(u), shaped(a)).reshape(u.shape).clone()
        best_loss = torch.full((rows,), float("inf"), device=u.device)
        done = torch.zeros(rows, dtype=torch.bool, device=u.device)
        steps = torch.zeros(rows, dtype=torch.int64, device=u.device)
        moment, grad_sq = torch.zeros_like(u), torch.zeros_like(u)
        row_lr = torch.full((rows, 1), self.lr, device=u.device, dtype=u.dtype)
        prev_loss = torch.full((rows,), float("inf"), device=u.device)
        improved_at = torch.zeros(rows, dtype=torch.int64, device=u.device)
        idx = torch.arange(rows, device=u.device)  # rows still searching; finished rows drop out in bulk
        for step in range(self.steps + 1):
            a_i, live = a[idx], movable[idx]
            with torch.no_grad():
                ref = _flat(project_all(constraints, shaped(u[idx]), shaped(a_i))).clone()
            ref.requires_grad_(True)
            loss, ok = evaluate_all(constraints, shaped(ref), shaped(a_i))
            with torch.no_grad():
                loss_now = loss.detach()
                better = loss_now < best_loss[idx] * (1 - 1e-4)
                improved_at[idx[better]] = step
                keep = ok | better
                best[idx[keep]] = ref.detach()[keep]
                best_loss[idx] = torch.where(keep, loss_now, best_loss[idx])
                done[idx] = ok
                steps[idx] = step
            stop = ok | (step - improved_at[idx] >= self.patience)
            if step == self.steps or bool(stop.all()):
                break
            (grad,) = torch.autograd.grad(loss.sum(), ref)
            with torch.no_grad():
                grad = torch.where(live, grad, torch.zeros_like(grad))
                overshot = (loss_now > prev_loss[idx])[:, None]
                lr_i = torch.where(overshot, row_lr[idx] * 0.5, torch.clamp(row_lr[idx] * 1.1, max=self.lr))
                g2 = grad.pow(2) if step == 0 else _BETA2 * grad_sq[idx] + (1 - _BETA2) * grad.pow(2)
                m = _BETA1 * moment[idx] + (1 - _BETA1) * grad
                if per_row:
                    rms = m.pow(2).sum(dim=1, keepdim=True).div(live.sum(dim=1, keepdim=True).clamp_min(1)).sqrt()
                    update = m / (rms + 1e-12)
                elif self.optimizer == "adam":
                    t = step + 1
                    update = (m / (1 - _BETA1 ** t)) / ((g2 / (1 - _BETA2 ** t)).sqrt() + 1e-12)
                else:
                    m = 0.9 * moment[idx] + grad
                    update = m
                u[idx] = torch.where(live, u[idx] - lr_i * update, u[idx])
                moment[idx], grad_sq[idx], row_lr[idx], prev_loss[idx] = m, g2, lr_i, loss_now
                idx = idx[~stop]
        return _Descent(best, done, steps, grad_sq)

    @staticmethod
    def _pick(result: _Descent, a: Tensor, s: int, b: int, adapter: ModelAdapter, distance: Distance,
              shaped: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """Per row, among its starts: a finished reference nearest the anomaly, else the lowest score."""
        if s == 1:
            return result.best, result.steps
        with torch.no_grad():
            dist = distance(shaped(result.best), shaped(a.repeat(s, 1))).reshape(s, b)
            score = adapter.score(shaped(result.best)).reshape(s, b)
            fin = result.done.reshape(s, b)
            # Finished rows rank by distance; unfinished ones come after all finished, by score.
            key = torch.where(fin, dist, dist.new_full((), float("inf")))
            choice = torch.where(fin.any(dim=0), key.argmin(dim=0), score.argmin(dim=0))
            rows = choice * b + torch.arange(b, device=a.device)
        return result.best[rows], result.steps[rows]
