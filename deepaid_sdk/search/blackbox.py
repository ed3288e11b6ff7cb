"""A gradient-free reference search: any detector that can score a batch, no gradient needed.

For each alert the search works in five batched phases, each one call to ``adapter.score``
per round for every live alert at once (chunked over alerts to bound memory; a row's result
never depends on its chunk):

1. *Candidates*: per feature, values a normal sample would have there: the median of the
   alert's nearest normal rows (standardised L2), the nearest row's value, the normal column's
   quantiles, and the detector's reconstruction where the adapter offers one.
2. *Screening*: the ``screen`` movable features whose candidates lie furthest from the alert
   (in normal std units; no model call) are tried alone with every candidate; each keeps the
   candidate that lowers the objective most.
3. *Greedy support*: K rounds; each round tries the ``width`` (1) first features not yet chosen
   on top of the current reference and keeps the best. First: the largest move in normal std
   units (the cause, not whatever fixing lowers the score: on a forest, moving a normal feature
   towards a denser region lowers it as much). The neighbours' median is taken over the normal
   rows nearest once the alert's K largest per-feature differences are left out, so only the
   causes move far. The budget is filled, as the gradient search's residual start fills it;
   pruning (phase 5) undoes what the target does not need.
4. *Refine and exchange*: for alerts the detector still flags, the chosen features are set
   to the reconstruction of the reference itself a few times (where the adapter reconstructs),
   then two sweeps of a golden-section search of every chosen feature's value at once (between
   the normal range's ends and its candidates; the joint move, or the best single one); then
   up to ``swaps`` exchanges of the least useful chosen feature for the best unchosen one (both
   measured at the reference), each followed by a refinement.
5. *Prune, then line search*: undo changes the reference does not need (while it still meets
   the target), then a bracketed bisection on one scale ``t`` per row moves the changed
   features from the anomaly towards their values only as far as the target needs.

Objective of a candidate: ``relu(score - target)`` plus the penalties of the soft constraints
other than fidelity (evaluated, never differentiated); hard constraints are enforced by
``project`` and checked by ``satisfied``, a candidate that fails them is never taken.

Target and pruning: the one rule of every search (``deepaid_sdk.target.TargetPolicy``): the
``target`` quantile (0.9) of the normal scores (the adapter's recorded ones, else those of
``normal``), else a quarter of ``|threshold|`` below the threshold; never above the threshold minus
the fidelity margin. Pruning is the gradient search's (``deepaid_sdk.search.prune_and_rank``): a
change is undone only when the reference still meets the target without it, never one whose undo
raises the score by ``keep_share`` of the row's largest rise. K is a budget, not a quota.

``steps`` per alert is the number of candidate references scored for it: at most
``C * S + 1 + K * width`` (screening, greedy) ``+ R + swaps * (1 + D + 1 + R)`` (refinement and
exchanges, only for alerts the detector still flags; ``R = 1 + 5 + 2 * (K * (refine_steps + 2) + 1)``) ``+ 1 +
K * K + 1 + line_steps`` (prune, line search), with C candidates per feature and S features
screened. Alerts that reach the target early stop early; a row's count never depends on its batch.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, FidelityConstraint, max_changes
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter, score_in_chunks
from deepaid_sdk.normal import NormalData
from deepaid_sdk.progress import progress
from deepaid_sdk.results.data import InterpretationBatch
from deepaid_sdk.search.base import ReferenceSearch, build_batch
from deepaid_sdk.search.blackbox_run import BlackboxRun
from deepaid_sdk.search.blackbox_scoring import BlackboxScorer, flat
from deepaid_sdk.search.blackbox_settings import VALUE_SOURCES, BlackboxSettings
from deepaid_sdk.target import DEFAULT_KEEP_SHARE, DEFAULT_QUANTILE, TargetPolicy, margin_of, strict_bound

__all__ = ["VALUE_SOURCES", "BlackboxSearch", "BlackboxSettings"]


class BlackboxSearch(ReferenceSearch):
    """Gradient-free DeepAID search: candidate values from normal data, greedy support, line search.

    :param normal: normal rows ``[M, *sample_shape]`` (numpy or tensor): candidate values and
        the target's score distribution. Presets pass their calibration rows.
    :param target: quantile of the normal scores the reference must reach (default 0.9, the
        gradient search's: ``deepaid_sdk.target.DEFAULT_QUANTILE``); None for the threshold minus
        the fidelity margin. Never above that bound.
    :param values: candidate sources, a subset of ``VALUE_SOURCES``; sources that do not apply
        (no reconstruction, no normal rows) are skipped.
    :param quantiles: quantiles of each normal column used as candidates.
    :param neighbours: nearest normal rows whose per-feature median is a candidate.
    :param width: features tried per greedy round (the best-screened not yet chosen).
    :param screen: features screened with the model per alert, at least ``3 * K``: those whose
        candidates lie furthest from the alert in normal std units (no model call to pick them).
    :param refine_steps: golden-section steps per chosen feature of alerts the detector still
        flags after the greedy phase (0 for none).
    :param swaps: exchange rounds for alerts the detector still flags (least useful chosen
        feature out, best unchosen screened feature in; each followed by a refinement).
    :param line_steps: bisection steps of the final line search (0 for none).
    :param prune: undo changes the reference does not need (the shared rule, see above).
    :param keep_share: a change whose undo raises the score by at least this share of the row's
        largest rise is kept (None: only the target decides).
    :param max_normal: normal rows used at most (evenly spaced, so the choice is deterministic).
    :param chunk: scored elements per model call at most (alerts are chunked to fit).
    """

    name = "blackbox"

    def __init__(
        self,
        normal: Any = None,
        *,
        target: float | None = DEFAULT_QUANTILE,
        values: Sequence[str] = ("neighbours", "reconstruction"),
        quantiles: Sequence[float] = (0.25, 0.5, 0.75),
        neighbours: int = 8,
        width: int = 1,
        screen: int = 32,
        refine_steps: int = 10,
        swaps: int = 2,
        line_steps: int = 6,
        prune: bool = True,
        keep_share: float | None = DEFAULT_KEEP_SHARE,
        max_normal: int = 2048,
        chunk: int = 1 << 24,
    ) -> None:
        if normal is not None and not isinstance(normal, (np.ndarray, Tensor, NormalData)):
            raise TypeError(
                f"normal: expected a numpy array, tensor or NormalData of normal rows; got {type(normal).__name__}"
            )
        self.normal = normal
        self.settings = BlackboxSettings(
            target=target,
            values=values,
            quantiles=quantiles,
            neighbours=neighbours,
            width=width,
            screen=screen,
            refine_steps=refine_steps,
            swaps=swaps,
            line_steps=line_steps,
            prune=prune,
            keep_share=keep_share,
            max_normal=max_normal,
            chunk=chunk,
        )

    def describe(self) -> dict[str, Any]:
        """The settings and the number of normal rows, recorded for reproducibility."""
        s = self.settings
        return {
            "search": self.name,
            "target": s.target,
            "values": list(s.values),
            "quantiles": list(s.quantiles),
            "neighbours": s.neighbours,
            "width": s.width,
            "screen": s.screen,
            "refine_steps": s.refine_steps,
            "swaps": s.swaps,
            "line_steps": s.line_steps,
            "prune": s.prune,
            "keep_share": s.keep_share,
            "max_normal": s.max_normal,
            "normal_rows": None if self.normal is None else len(self.normal),
        }

    # -- set-up shared by every chunk ---------------------------------------------------------

    def _normal_rows(self, adapter: ModelAdapter) -> Tensor | None:
        if self.normal is None:
            return None
        given = self.normal.rows if isinstance(self.normal, NormalData) else self.normal
        rows = adapter.prepare(given, "normal")
        if rows.shape[0] > self.settings.max_normal:
            rows = rows[torch.linspace(0, rows.shape[0] - 1, self.settings.max_normal).round().long().to(rows.device)]
        return rows

    def _target(self, adapter: ModelAdapter, normal: Tensor | None, margin: float) -> float:
        """The score a reference must reach (``deepaid_sdk.target``): the ``target`` quantile of normal
        scores, the adapter's recorded ones where it has them, else those of the ``normal`` rows."""
        quantile = self.settings.target
        policy = TargetPolicy("threshold" if quantile is None else "typical", quantile)

        def scores() -> Tensor | None:
            return None if normal is None else score_in_chunks(adapter, normal, 4096)

        return policy.score(adapter, margin, scores)

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        started = time.perf_counter()
        margin = margin_of(adapter, constraints)
        others = [c for c in constraints if not isinstance(c, FidelityConstraint)]
        normal = self._normal_rows(adapter)
        reconstructs = "reconstruction" in self.settings.values and adapter.reconstructs
        if normal is None and not reconstructs:
            raise ValueError(
                f"normal: the blackbox search takes candidate values from normal rows or from the detector's "
                f"reconstruction, and {type(adapter).__name__} has no reconstruction; pass normal rows "
                f"(BlackboxSearch(normal=X_normal), or normal= to the preset)"
            )
        target = self._target(adapter, normal, margin)
        b, n = flat(anomalies).shape
        k = min(max_changes(constraints) or n, n)
        scorer = BlackboxScorer(
            adapter,
            others,
            target,
            strict_bound(adapter, margin),
            tuple(anomalies.shape[1:]),
            max(1, self.settings.chunk // max(1, n)),
        )
        context = BlackboxRun(scorer, k, normal, reconstructs, self.settings)
        per_alert = max(1, min(n, context.screened) * context.candidates * n)
        size = max(1, self.settings.chunk // per_alert)
        refs, steps = [], []
        for part in progress(anomalies.split(size), total=-(-b // size), desc="blackbox search", unit="chunk"):
            ref, step = context.run(part.clone())  # the phases may write to their rows in place
            refs.append(ref)
            steps.append(step)
        references = torch.cat(refs) if refs else anomalies.clone()
        steps_all = torch.cat(steps) if steps else torch.zeros(0, dtype=torch.int64)
        return build_batch(
            adapter,
            anomalies,
            references,
            steps=steps_all,
            started=started,
            method=self.name,
            params={**self.describe(), "k": k, "target_score": target, "candidates": context.candidates},
        )
