"""The descent loop of the gradient search: straight-through steps on a batch, with per-row step sizes.

Gradients are taken at the projected point and applied to a continuous variable, so integer and
one-hot features still move. A row stops once every constraint is met or after ``patience`` steps
without improvement; it keeps its best reference.
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, evaluate_all, project_all

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
) -> Descent:
    """Descend the summed penalties from ``start``, moving only ``movable`` features.

    ``per_row`` scales each row's gradient by its root mean square instead of each feature's
    (as Adam does), so features move in proportion to their pull: the change then says
    where the objective wants to move, which is what the support is chosen by. Steps are
    taken in ``scale`` units: the gradient and the step of feature i are both scaled by s_i.
    """
    u = start.clone()
    rows = u.shape[0]
    best = project_all(constraints, shaped(u), shaped(a)).reshape(u.shape).clone()
    best_loss = torch.full((rows,), float("inf"), device=u.device)
    done = torch.zeros(rows, dtype=torch.bool, device=u.device)
    steps = torch.zeros(rows, dtype=torch.int64, device=u.device)
    moment, grad_sq = torch.zeros_like(u), torch.zeros_like(u)
    row_lr = torch.full((rows, 1), lr, device=u.device, dtype=u.dtype)
    prev_loss = torch.full((rows,), float("inf"), device=u.device)
    improved_at = torch.zeros(rows, dtype=torch.int64, device=u.device)
    idx = torch.arange(rows, device=u.device)  # rows still searching; finished rows drop out in bulk
    for step in range(steps_budget + 1):
        a_i, live = a[idx], movable[idx]
        with torch.no_grad():
            ref = flat(project_all(constraints, shaped(u[idx]), shaped(a_i))).clone()
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
        stop = ok | (step - improved_at[idx] >= patience)
        if step == steps_budget or bool(stop.all()):
            break
        (grad,) = torch.autograd.grad(loss.sum(), ref)
        with torch.no_grad():
            grad = torch.where(live, grad * scale, torch.zeros_like(grad))
            overshot = (loss_now > prev_loss[idx])[:, None]
            lr_i = torch.where(overshot, row_lr[idx] * 0.5, torch.clamp(row_lr[idx] * 1.1, max=lr))
            g2 = grad.pow(2) if step == 0 else _BETA2 * grad_sq[idx] + (1 - _BETA2) * grad.pow(2)
            m = _BETA1 * moment[idx] + (1 - _BETA1) * grad
            if per_row:
                rms = m.pow(2).sum(dim=1, keepdim=True).div(live.sum(dim=1, keepdim=True).clamp_min(1)).sqrt()
                update = m / (rms + 1e-12)
            elif optimizer == "adam":
                t = step + 1
                update = (m / (1 - _BETA1**t)) / ((g2 / (1 - _BETA2**t)).sqrt() + 1e-12)
            else:
                m = 0.9 * moment[idx] + grad
                update = m
            u[idx] = torch.where(live, u[idx] - lr_i * scale * update, u[idx])
            moment[idx], grad_sq[idx], row_lr[idx], prev_loss[idx] = m, g2, lr_i, loss_now
            idx = idx[~stop]
    return Descent(best, done, steps, grad_sq)
