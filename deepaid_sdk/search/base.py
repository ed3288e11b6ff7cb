"""The ``ReferenceSearch`` interface, and the result every search builds: ``build_batch``."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint
from deepaid_sdk.distances import Distance, L2Distance
from deepaid_sdk.model.adapters import ModelAdapter, score_in_chunks
from deepaid_sdk.results.data import InterpretationBatch
from deepaid_sdk.search.ranking import rank_changes


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
        # A copy: prepare may share memory with the caller's array, and no search may write to it.
        x = adapter.prepare(anomalies, "anomalies").clone()
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
    changed: Sequence[np.ndarray] | None = None,
    scores: Tensor | None = None,
    reference_scores: Tensor | None = None,
    needs: np.ndarray | None = None,
) -> InterpretationBatch:
    """Scores, verdicts and ranked changes of final references, as an ``InterpretationBatch``.

    ``changed``: the ranked changes where the search has them already (``prune_and_rank``);
    otherwise they are ranked here with ``rank_changes``. ``scores`` / ``reference_scores``: the
    model's scores of the anomalies / references where the caller has them already (no second model call).
    ``needs``: per row, the ``(features, groups)`` that would reach normal where the budget did not
    (``deepaid_sdk.search.needs``). The adapter's ``feature_groups`` travel with the result.
    """
    with torch.no_grad():
        scores = score_in_chunks(adapter, anomalies) if scores is None else scores.detach()
        ref_scores = score_in_chunks(adapter, references) if reference_scores is None else reference_scores.detach()
        flipped = ref_scores <= adapter.threshold
    if changed is None:
        changed = rank_changes(adapter, anomalies, references)
    seconds = time.perf_counter() - started

    def np_(t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    return InterpretationBatch(
        anomalies=np_(anomalies),
        references=np_(references),
        changed=tuple(changed),
        scores=np_(scores).astype(np.float64),
        reference_scores=np_(ref_scores).astype(np.float64),
        flipped=np_(flipped).astype(bool),
        steps=np.asarray(steps.cpu() if isinstance(steps, Tensor) else steps, dtype=np.int64),
        threshold=adapter.threshold,
        seconds=seconds,
        method=method,
        params=params,
        details=tuple(details),
        feature_groups=getattr(adapter, "feature_groups", None),
        needs=needs,
    )
