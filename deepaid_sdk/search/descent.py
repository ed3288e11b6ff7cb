"""The descent loop of the gradient search: straight-through steps on a batch, with per-row step sizes.

Gradients are taken at the projected point and applied to a continuous variable, so integer and
one-hot features still move. A row stops once every constraint is met or after ``patience`` steps
without improving its best objective by the relative ``tolerance`` (it has stalled); it keeps its best
reference.
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, evaluate_all, ordered_hard, project_all

_BETA1, _BETA2 = 0.9, 0.99  # moment decays, as in Adam


def flat(t: Tensor) -> Tensor:
    """``[B, ...]`` as ``[B, N]``."""
    return t.reshape(t.shape[0], -1)


@attrs.define(eq=False)
class Descent:
    """What one descent returns per row: the best reference, whether it satisfied everything, when."""

    best: Tensor
    done: Tensor
    steps: Tensor
    grad_sq: Tensor
    """EMA of squared gradients per feature (in ``scale`` units): how strongly the objective pulls on each."""


def descend(
    constraints: list[Constraint],
    start: Tensor,
    a: Tensor,
    movable: Tensor,
    scale: Tensor,
    shaped: Callable[[Tensor], Tensor],
    *,
    steps_budget: int,
    lr: float,
    patience: int,
    optimizer: str,
    per_row: bool = False,
    tolerance: float = 1e-4,
    lr_growth: float = 1.1,
    lr_max: float | None = None,
) -> Descent:
    """Descend the summed penalties from ``start``, moving only ``movable`` features.

    ``per_row`` scales each row's gradient by its root mean square instead of each feature's
    (as Adam does), so features move in proportion to their pull: the change then says
    where the objective wants to move, which is what the support is chosen by. Steps are
    taken in ``scale`` units: the gradient and the step of feature i are both scaled by s_i.

    A row's step size starts at ``lr``, halves when its objective went up (it overshot) and grows by
    ``lr_growth`` per step otherwise, up to ``lr_max`` (``lr`` when None): a row far from its target
    then reaches it in fewer steps, and one that overshoots still settles.

    The rows still searching are held as one compact batch: a step touches no row index, and
    the rows that stop at a step are written out and dropped together.
    """
    hard = ordered_hard(constraints)
    out = Descent(
        start.clone(),
        start.new_zeros(start.shape[0], dtype=torch.bool),
        start.new_zeros(start.shape[0], dtype=torch.int64),
        torch.zeros_like(start),
    )
    live = _Live.begin(hard, start, a, movable, lr, shaped)
    for step in range(steps_budget + 1):
        with torch.no_grad():
            ref = flat(project_all(hard, shaped(live.u), shaped(live.a))).clone()
        ref.requires_grad_(True)
        loss, ok = evaluate_all(constraints, shaped(ref), shaped(live.a))
        with torch.no_grad():
            loss_now = loss.detach()
            better = loss_now < live.best_loss * (1 - tolerance)
            live.improved_at = torch.where(better, step, live.improved_at)
            keep = ok | better
            live.best = torch.where(keep[:, None], ref.detach(), live.best)
            live.best_loss = torch.where(keep, loss_now, live.best_loss)
        stop = ok | (step - live.improved_at >= patience)
        # The gradient of the step a row stops at is part of its record (``grad_sq``) whether or not
        # other rows go on, so it is taken on the last step too.
        (grad,) = torch.autograd.grad(loss.sum(), ref)
        with torch.no_grad():
            live.step(grad, loss_now, step, scale, (lr_growth, lr if lr_max is None else lr_max), optimizer, per_row)
        if step == steps_budget or bool(stop.all()):
            live.write(out, None, ok, step)
            break
        if bool(stop.any()):
            live.write(out, stop, ok, step)
    return out


@attrs.define(eq=False)
class _Live:
    """The rows of a descent still searching: where they go in the output, and their state."""

    pos: Tensor
    u: Tensor
    a: Tensor
    movable: Tensor
    best: Tensor
    best_loss: Tensor
    moment: Tensor
    grad_sq: Tensor
    row_lr: Tensor
    prev_loss: Tensor
    improved_at: Tensor

    @classmethod
    def begin(
        cls,
        hard: list[Constraint],
        start: Tensor,
        a: Tensor,
        movable: Tensor,
        lr: float,
        shaped: Callable[[Tensor], Tensor],
    ) -> _Live:
        rows, dev = start.shape[0], start.device
        with torch.no_grad():
            best = project_all(hard, shaped(start), shaped(a)).reshape(start.shape).clone()
        return cls(
            pos=torch.arange(rows, device=dev),
            u=start.clone(),
            a=a,
            movable=movable,
            best=best,
            best_loss=torch.full((rows,), float("inf"), device=dev),
            moment=torch.zeros_like(start),
            grad_sq=torch.zeros_like(start),
            row_lr=torch.full((rows, 1), lr, device=dev, dtype=start.dtype),
            prev_loss=torch.full((rows,), float("inf"), device=dev),
            improved_at=torch.zeros(rows, dtype=torch.int64, device=dev),
        )

    def step(
        self,
        grad: Tensor,
        loss: Tensor,
        step: int,
        scale: Tensor,
        lrs: tuple[float, float],
        optimizer: str,
        per_row: bool,
    ) -> None:
        """One optimiser step of every live row, with its own step size (halved after an overshoot, else
        grown by ``lrs[0]`` up to ``lrs[1]``)."""
        growth, most = lrs
        live = self.movable
        grad = torch.where(live, grad * scale, 0.0)
        overshot = (loss > self.prev_loss)[:, None]
        self.row_lr = torch.where(overshot, self.row_lr * 0.5, torch.clamp(self.row_lr * growth, max=most))
        g2 = grad.pow(2) if step == 0 else _BETA2 * self.grad_sq + (1 - _BETA2) * grad.pow(2)
        m = _BETA1 * self.moment + (1 - _BETA1) * grad
        if per_row:
            rms = m.pow(2).sum(dim=1, keepdim=True).div(live.sum(dim=1, keepdim=True).clamp_min(1)).sqrt()
            update = m / (rms + 1e-12)
        elif optimizer == "adam":
            t = step + 1
            update = (m / (1 - _BETA1**t)) / ((g2 / (1 - _BETA2**t)).sqrt() + 1e-12)
        else:
            m = 0.9 * self.moment + grad
            update = m
        self.u = torch.where(live, self.u - self.row_lr * scale * update, self.u)
        self.moment, self.grad_sq, self.prev_loss = m, g2, loss

    def write(self, out: Descent, stop: Tensor | None, ok: Tensor, step: int) -> None:
        """Write the rows that stop (all where ``stop`` is None) to ``out``, and keep only the others."""
        rows: Tensor | slice
        if stop is None:
            rows, pos = slice(None), self.pos
        else:
            rows = stop.nonzero().flatten()
            pos = self.pos[rows]
        out.best[pos] = self.best[rows]
        out.done[pos] = ok[rows]
        out.steps[pos] = step
        out.grad_sq[pos] = self.grad_sq[rows]
        if stop is not None:
            kept = (~stop).nonzero().flatten()
            for name in (
                "pos",
                "u",
                "a",
                "movable",
                "best",
                "best_loss",
                "moment",
                "grad_sq",
                "row_lr",
                "prev_loss",
                "improved_at",
            ):
                setattr(self, name, getattr(self, name)[kept])
