"""How the blackbox search scores a batch of candidate references: one record of the fixed inputs.

Every phase (``blackbox_run``, ``blackbox_refine``) calls ``BlackboxScorer.evaluate`` on flat
``[R, N]`` variants and reads the named fields of what it returns.
"""

from __future__ import annotations

from typing import Sequence

import attrs
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, project_all
from deepaid_sdk.model.adapters import ModelAdapter

INF = float("inf")


def flat(t: Tensor) -> Tensor:
    """``[B, ...]`` as ``[B, N]``."""
    return t.reshape(t.shape[0], -1)


def lexargmin(primary: Tensor, secondary: Tensor) -> Tensor:
    """Index along the last dim of the smallest ``primary``, ties broken by the smallest ``secondary``."""
    tied = primary == primary.min(dim=-1, keepdim=True).values
    return torch.where(tied, secondary.to(primary.dtype), torch.full_like(primary, INF)).argmin(dim=-1)


def one_change_trials(ref: Tensor, index: Tensor, values: Tensor) -> Tensor:
    """``[L, m, n]``: each row's ``ref`` with one feature changed per trial, ``index[i, j]`` set to ``values[i, j]``."""
    trial = ref[:, None, :].expand(-1, index.shape[1], -1).clone()
    trial.scatter_(2, index[..., None], values[..., None])
    return trial


@attrs.frozen(eq=False)
class Evaluated:
    """Projected variants and how they fare: ``excess`` is ``relu(score - target)``, infinite where a
    constraint fails; ``penalty`` the soft constraints' sum; ``done`` feasible and at the target."""

    refs: Tensor
    excess: Tensor
    penalty: Tensor
    score: Tensor
    done: Tensor


@attrs.frozen(eq=False)
class BlackboxScorer:
    """The detector, the constraints other than fidelity, the target and the sample shape of one search."""

    adapter: ModelAdapter
    constraints: Sequence[Constraint]
    target: float
    """The score a reference must reach."""
    bound: float
    """The threshold minus the fidelity margin: above it a reference is still flagged."""
    shape: tuple[int, ...]
    rows_per_call: int
    """Variants per model call (the search's ``chunk`` of elements over the sample size)."""

    def project(self, variants: Tensor, anomalies: Tensor) -> Tensor:
        """``[R, N]`` variants projected onto the hard constraints."""
        return flat(
            project_all(self.constraints, variants.reshape(-1, *self.shape), anomalies.reshape(-1, *self.shape))
        )

    @torch.no_grad()
    def evaluate(self, variants: Tensor, anomalies: Tensor) -> Evaluated:
        """Project ``[R, N]`` variants of ``[R, N]`` anomalies and score them.

        Choices are lexicographic: excess first, then penalty, so a distance penalty only decides
        between references equally far from the target.
        """
        shape = self.shape
        refs = self.project(variants, anomalies)
        score = (
            torch.cat([self.adapter.score(p.reshape(-1, *shape)) for p in refs.split(self.rows_per_call)])
            if refs.shape[0]
            else refs.new_zeros(0)
        )
        score = score.to(refs.dtype)
        excess = torch.relu(score - self.target)
        penalty = torch.zeros_like(score)
        feasible = torch.ones_like(score, dtype=torch.bool)
        for c in self.constraints:
            extra, ok = c.evaluate(refs.reshape(-1, *shape), anomalies.reshape(-1, *shape))
            penalty = penalty + extra.to(penalty.dtype)
            feasible &= ok
        excess = torch.where(feasible & torch.isfinite(score), excess, torch.full_like(excess, INF))
        done = feasible & (score <= self.target)
        return Evaluated(refs, excess, penalty, score, done)

    def flagged(self, found: Evaluated) -> Tensor:
        """Rows the detector still alerts on (or that break a constraint): the only ones refined."""
        return ~torch.isfinite(found.excess) | (found.score > self.bound)
