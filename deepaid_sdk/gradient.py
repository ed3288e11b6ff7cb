"""The DeepAID gradient search for continuous inputs, on a whole batch at once.

Objective per row: the soft penalties (fidelity + lambda * distance, ...). Each step takes an
optimiser step, keeps the K changed features whose change does most for the objective
(|gradient x change|), resets the others to the anomaly, and projects onto every hard
constraint. Gradients are taken at the projected point and applied to a continuous shadow
variable (straight-through), so integer and one-hot features still move. A row stops as soon
as every constraint holds (fidelity included); finished rows are masked, not removed.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from deepaid_sdk._checks import check_finite_number, check_positive_int
from deepaid_sdk.adapters import ModelAdapter
from deepaid_sdk.constraints import (
    Constraint, FidelityConstraint, changeable_mask, evaluate_all, max_changes, project_all,
)
from deepaid_sdk.distances import Distance
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search import ReferenceSearch, build_batch, prune_changes

STARTS = ("auto", "anomaly", "reconstruction", "both")


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _keep_top(score: Tensor, k: int) -> Tensor:
    """``[B, N]`` bool mask of the k highest entries per row."""
    return torch.zeros_like(score, dtype=torch.bool).scatter_(1, score.topk(k, dim=1).indices, True)


class GradientSearch(ReferenceSearch):
    """DeepAID's constrained gradient search (continuous features; integer/one-hot via projection).

    :param steps: step budget per row.
    :param lr: optimiser step size, in input units.
    :param optimizer: ``"adam"`` or ``"sgd"``.
    :param init_noise: std of seeded Gaussian noise added to the start (robustness); 0 for none.
    :param seed: seed of that noise; the same noise pattern is used for every row, so a sample's
        result does not depend on the batch it is in.
    :param start: ``"anomaly"``; ``"reconstruction"`` (the anomaly with its K largest residual
        features set to the detector's reconstruction); ``"both"`` (run both starts in one batch,
        keep per row the normal reference nearest the anomaly); ``"auto"`` = both where the
        adapter can reconstruct.
    :param prune: after the search, undo changes the reference does not need.
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
    ) -> None:
        self.steps = check_positive_int(steps, "steps")
        self.lr = check_finite_number(lr, "lr")
        if self.lr <= 0:
            raise ValueError(f"lr: expected > 0; got {self.lr}")
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer: expected 'adam' or 'sgd'; got {optimizer!r}")
        self.optimizer = optimizer
        self.init_noise = check_finite_number(init_noise, "init_noise")
        if self.init_noise < 0:
            raise ValueError(f"init_noise: expected >= 0; got {self.init_noise}")
        self.seed = check_positive_int(seed, "seed", minimum=0)
        if start not in STARTS:
            raise ValueError(f"start: expected one of {STARTS}; got {start!r}")
        self.start = start
        self.prune = bool(prune)

    def describe(self) -> dict[str, Any]:
        return {"search": self.name, "steps": self.steps, "lr": self.lr, "optimizer": self.optimizer,
                "init_noise": self.init_noise, "seed": self.seed, "start": self.start, "prune": self.prune}

    def _starts(self, adapter: ModelAdapter, x: Tensor, a: Tensor, movable: Tensor, k: int) -> list[Tensor]:
        """Starting points ``[B, N]`` of each start mode in use."""
        starts = []
        if self.start in ("auto", "both", "anomaly"):
            start = a.clone()
            if self.init_noise > 0:
                gen = torch.Generator(device="cpu").manual_seed(self.seed)
                noise = torch.randn(a.shape[1], generator=gen, dtype=torch.float64).to(a.device, a.dtype)
                start = torch.where(movable, a + self.init_noise * noise, a)
            starts.append(start)
        if self.start in ("auto", "both", "reconstruction"):
            with torch.no_grad():
                rec = adapter.reconstruct(x)
            if rec is None and self.start != "auto":
                raise ValueError(f"start={self.start!r}: {type(adapter).__name__} offers no reconstruction")
            if rec is not None:
                rec = _flat(rec).to(a.dtype)
                residual = (rec - a).abs().masked_fill(~movable, -1.0)
                starts.append(torch.where(_keep_top(residual, k) & movable, rec, a))
        return starts

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        started = time.perf_counter()
        if not any(isinstance(c, FidelityConstraint) for c in constraints):
            constraints = [FidelityConstraint().bind(adapter, distance), *constraints]
        shape = anomalies.shape[1:]
        b, a0 = anomalies.shape[0], _flat(anomalies)
        n = a0.shape[1]
        k = min(max_changes(constraints) or n, n)
        movable0 = changeable_mask(constraints, anomalies)
        starts = self._starts(adapter, anomalies, a0, movable0, k)
        s = len(starts)
        a = a0.repeat(s, 1)
        movable = movable0.repeat(s, 1)

        def shaped(t: Tensor) -> Tensor:
            return t.reshape(t.shape[0], *shape)

        u = torch.cat(starts).detach().clone().requires_grad_(True)
        opt = (torch.optim.Adam([u], lr=self.lr) if self.optimizer == "adam"
               else torch.optim.SGD([u], lr=self.lr, momentum=0.9))
        active = torch.ones(s * b, dtype=torch.bool, device=a.device)
        best = _flat(project_all(constraints, shaped(u.detach()), shaped(a)))
        best_loss = torch.full((s * b,), float("inf"), device=a.device)
        done = torch.zeros(s * b, dtype=torch.bool, device=a.device)
        steps = torch.zeros(s * b, dtype=torch.int64, device=a.device)

        for step in range(self.steps + 1):
            ref = _flat(project_all(constraints, shaped(u.detach()), shaped(a))).requires_grad_(True)
            loss, ok = evaluate_all(constraints, shaped(ref), shaped(a))
            with torch.no_grad():
                finish = ok & active
                improve = active & (loss.detach() < best_loss)
                keep = finish | improve
                best[keep] = ref.detach()[keep]
                best_loss = torch.where(improve, loss.detach(), best_loss)
                done |= finish
                steps = torch.where(active, torch.full_like(steps, step), steps)
                active &= ~finish
            if step == self.steps or not bool(active.any()):
                break
            (grad,) = torch.autograd.grad(loss.sum(), ref)
            with torch.no_grad():
                before = u.detach().clone()
                u.grad = torch.where(active[:, None], grad, torch.zeros_like(grad))
                opt.step()
                moved = torch.where(active[:, None] & movable, u, before)
                if k < n:
                    # Conciseness: keep the K features whose change does most for the objective.
                    effect = (grad.abs() * (moved - a).abs()).masked_fill(~movable, -1.0)
                    moved = torch.where(_keep_top(effect, k), moved, a)
                u.copy_(moved)

        best, steps, done = self._pick(best, steps, done, a0, s, b, adapter, distance, shaped)
        refs = shaped(best)
        if self.prune:
            refs = prune_changes(adapter, constraints, anomalies, refs)
        return build_batch(adapter, anomalies, refs, steps=steps, started=started, method=self.name,
                           params={**self.describe(), "k": k, "starts": s})

    @staticmethod
    def _pick(best: Tensor, steps: Tensor, done: Tensor, a0: Tensor, s: int, b: int,
              adapter: ModelAdapter, distance: Distance, shaped: Any) -> tuple[Tensor, Tensor, Tensor]:
        """Per row, among its starts: a finished reference nearest the anomaly, else the lowest score."""
        if s == 1:
            return best, steps, done
        with torch.no_grad():
            dist = distance(shaped(best), shaped(a0.repeat(s, 1))).reshape(s, b)
            score = adapter.score(shaped(best)).reshape(s, b)
            fin = done.reshape(s, b)
            # Finished rows rank by distance; unfinished ones after all finished, by score.
            key = torch.where(fin, dist, dist.new_full((), float("inf")))
            choice = torch.where(fin.any(dim=0), key.argmin(dim=0), score.argmin(dim=0))
            rows = choice * b + torch.arange(b, device=best.device)
        return best[rows], steps[rows], done[rows]

