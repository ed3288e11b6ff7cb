"""The ``ReferenceSearch`` interface and what every search shares: turning references into results."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.adapters import ModelAdapter
from deepaid_sdk.constraints import Constraint, all_satisfied
from deepaid_sdk.distances import Distance, L2Distance
from deepaid_sdk.results import InterpretationBatch

#: Above this many variant elements, changes are ranked by size instead of by model calls.
_RANK_BUDGET = 50_000_000


class ReferenceSearch(ABC):
    """Finds, for each anomaly of a batch, a reference the detector accepts under the constraints."""

    name: str = ""

    def search(
        self,
        adapter: ModelAdapter,
        anomalies: Any,
        constraints: Sequence[Constraint] = (),
        distance: Distance | None = None,
    ) -> InterpretationBatch:
        """Check the arguments, bind the constraints to this detector, and run the search."""
        if not isinstance(adapter, ModelAdapter):
            raise TypeError(f"adapter: expected a ModelAdapter; got {type(adapter).__name__}")
        for i, c in enumerate(constraints):
            if not isinstance(c, Constraint):
                raise TypeError(f"constraints[{i}]: expected a Constraint; got {type(c).__name__}")
        if distance is None:
            distance = L2Distance()
        elif not isinstance(distance, Distance):
            raise TypeError(f"distance: expected a Distance; got {type(distance).__name__}")
        x = adapter.prepare(anomalies, "anomalies")
        bound = [c.bind(adapter, distance) for c in constraints]
        return self._search(adapter, x, bound, distance)

    @abstractmethod
    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        """Search on a checked batch on ``adapter.device`` with bound constraints."""

    def describe(self) -> dict[str, Any]:
        """Recorded parameters, for reproducibility."""
        return {"search": self.name}


def _changed_lists(changed: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, the changed flat indices padded with -1 (``[B, M]``) and their count ``[B]``."""
    counts = changed.sum(dim=1)
    width = int(counts.max()) if changed.numel() else 0
    order = torch.sort(changed.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :width]
    valid = torch.arange(width, device=changed.device)[None, :] < counts[:, None]
    return torch.where(valid, order, torch.full_like(order, -1)), counts


@torch.no_grad()
def revert_variants(anomalies: Tensor, references: Tensor, index: Tensor) -> Tensor:
    """``[B, M, *shape]``: each reference with one changed feature (``index[b, m]``) put back."""
    b, m = index.shape
    flat_ref = references.reshape(b, 1, -1).expand(b, m, -1).clone()
    flat_anom = anomalies.reshape(b, -1)
    safe = index.clamp_min(0)
    values = torch.gather(flat_anom, 1, safe)
    flat_ref.scatter_(2, safe[..., None], values[..., None])
    return flat_ref.reshape(b, m, *references.shape[1:])


@torch.no_grad()
def score_in_chunks(adapter: ModelAdapter, x: Tensor, chunk: int = 65_536) -> Tensor:
    return torch.cat([adapter.score(part) for part in x.split(chunk)]) if x.shape[0] else x.new_zeros(0)


@torch.no_grad()
def rank_changes(adapter: ModelAdapter, anomalies: Tensor, references: Tensor,
                 reference_scores: Tensor | None = None) -> list[np.ndarray]:
    """Changed features per row, most important first.

    Importance of a change is how much the reference's score rises when that one change is
    undone (all rows and changes in one batched call); ties fall back to the size of the change.
    ``reference_scores``: the references' scores where the caller has them already.
    """
    b = anomalies.shape[0]
    delta = (references - anomalies).reshape(b, -1)
    changed = delta != 0
    index, counts = _changed_lists(changed)
    m = index.shape[1]
    size = torch.gather(delta.abs(), 1, index.clamp_min(0)).float()
    if m > 1 and b * m * delta.shape[1] <= _RANK_BUDGET:
        variants = revert_variants(anomalies, references, index).reshape(b * m, *anomalies.shape[1:])
        base = adapter.score(references) if reference_scores is None else reference_scores
        rise = score_in_chunks(adapter, variants).reshape(b, m) - base[:, None]
        # Sort by rise, then size: a stable sort on size first, then on rise.
        order = torch.sort(size, dim=1, descending=True, stable=True).indices
        rise = torch.gather(rise.float(), 1, order)
        order = torch.gather(order, 1, torch.sort(rise, dim=1, descending=True, stable=True).indices)
    else:
        order = torch.sort(size, dim=1, descending=True, stable=True).indices
    index = torch.gather(index, 1, order) if m else index
    # Padding (-1) sorted last: it has size 0 and no rise; drop it per row.
    index, counts = index.cpu().numpy(), counts.cpu().numpy()
    shape = tuple(anomalies.shape[1:])
    out = []
    for row, count in zip(index, counts):  # result assembly only, not the search
        kept = row[row >= 0][:count] if count else row[:0]
        out.append(kept.astype(np.int64) if len(shape) <= 1 else np.stack(np.unravel_index(kept, shape), axis=1))
    return out


def build_batch(
    adapter: ModelAdapter,
    anomalies: Tensor,
    references: Tensor,
    *,
    steps: Tensor | np.ndarray,
    started: float,
    method: str,
    params: dict[str, Any],
    details: Sequence[dict[str, Any]] = (),
) -> InterpretationBatch:
    """Scores, verdicts and ranked changes of final references, as an ``InterpretationBatch``."""
    with torch.no_grad():
        scores = adapter.score(anomalies)
        ref_scores = adapter.score(references)
        flipped = ref_scores <= adapter.threshold
    changed = rank_changes(adapter, anomalies, references, ref_scores)
    seconds = time.perf_counter() - started

    def np_(t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    return InterpretationBatch(
        anomalies=np_(anomalies), references=np_(references), changed=tuple(changed),
        scores=np_(scores).astype(np.float64), reference_scores=np_(ref_scores).astype(np.float64),
        flipped=np_(flipped).astype(bool), steps=np.asarray(steps.cpu() if isinstance(steps, Tensor) else steps,
                                                             dtype=np.int64),
        threshold=adapter.threshold, seconds=seconds, method=method, params=params, details=tuple(details),
    )


@torch.no_grad()
def prune_changes(
    adapter: ModelAdapter, constraints: Sequence[Constraint], anomalies: Tensor, references: Tensor,
    rounds: int | None = None,
) -> Tensor:
    """Undo changes the reference does not need, one per row per round, while every constraint holds.

    Each round tries, for all rows at once, undoing each remaining change and keeps the undo
    that leaves the lowest score, if the reference then still satisfies every constraint.
    """
    refs = references.clone()
    b = refs.shape[0]
    ok = adapter.is_normal(refs) & all_satisfied(constraints, refs, anomalies)
    rounds = rounds if rounds is not None else int((refs != anomalies).reshape(b, -1).sum(dim=1).max().item() or 0)
    for _ in range(rounds):
        changed = (refs != anomalies).reshape(b, -1)
        index, counts = _changed_lists(changed)
        m = index.shape[1]
        if m == 0 or b * m * changed.shape[1] > _RANK_BUDGET:
            break
        variants = revert_variants(anomalies, refs, index)
        scores = score_in_chunks(adapter, variants.reshape(b * m, *refs.shape[1:])).reshape(b, m)
        scores = scores.masked_fill(index < 0, float("inf"))
        best = scores.argmin(dim=1)
        candidate = variants[torch.arange(b, device=refs.device), best]
        accept = ok & (counts > 0) & adapter.is_normal(candidate) & all_satisfied(constraints, candidate, anomalies)
        if not bool(accept.any()):
            break
        refs[accept] = candidate[accept]
    return refs
