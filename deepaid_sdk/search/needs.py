"""What size would reach normal where a change budget does not: the shortest sufficient explanation.

A reference that is still anomalous explains nothing, and "k was too small" is not a cause an analyst
can act on. For the rows a budgeted search leaves anomalous, the same search runs again without any
budget (features or groups) and with pruning, and the size it needed is recorded per row as
``(features, groups)``: the result then says ``needs 21 features in 5 groups`` in its records and table.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, max_changes
from deepaid_sdk.distances import Distance
from deepaid_sdk.groups import FeatureGroups, group_budget, without_budgets
from deepaid_sdk.model.adapters import ModelAdapter, score_in_chunks


def budget_needs(
    search: Any,
    adapter: ModelAdapter,
    anomalies: Tensor,
    references: Tensor,
    constraints: Sequence[Constraint],
    distance: Distance,
    reference_scores: Tensor | None = None,
) -> np.ndarray | None:
    """``[B, 2]`` int64 ``(features, groups)`` of the shortest sufficient explanation of each row whose
    reference the budget left anomalous (-1 elsewhere, and where even no budget reaches normal); None
    when no budget applies. ``search`` is a gradient search: a copy with ``prune=True`` and no budget runs
    on those rows only, so no row's figure depends on the others. ``reference_scores``: the references'
    scores where the caller has them (no second model call)."""
    if max_changes(constraints) is None and group_budget(constraints) is None:
        return None
    b = anomalies.shape[0]
    out = np.full((b, 2), -1, dtype=np.int64)
    with torch.no_grad():
        ref_scores = score_in_chunks(adapter, references) if reference_scores is None else reference_scores
        stuck = (ref_scores > adapter.threshold).nonzero().flatten()
    if stuck.numel() == 0:
        return out
    unbudgeted = copy.copy(search)
    unbudgeted.prune = True
    found = unbudgeted._search(adapter, anomalies[stuck], without_budgets(constraints), distance)
    width = int(anomalies[0].numel())
    groups = FeatureGroups.of(getattr(adapter, "feature_groups", None), width)
    mask = found.changed_mask().reshape(len(found), -1)
    counts = np.stack([mask.sum(axis=1), np.asarray(groups.count(mask))], axis=1)
    counts[~np.asarray(found.flipped, dtype=bool)] = -1
    out[stuck.cpu().numpy()] = counts
    return out
