"""The DeepAID gradient search for continuous inputs, on a whole batch at once.

Objective per row: the soft penalties (fidelity + lambda * distance, ...) under hard
projections (box, integer, one-hot, frozen) and an L0 budget of K changed features.

**Target.** By default the reference must be *typically* normal: its score must reach the
``quantile`` (0.9) of the normal data's scores where the adapter recorded them (``calibrate`` or
``observe_normal``), else ``threshold - margin * |threshold|``; never above ``threshold - eps``.
A reference just below the threshold is the smallest change that silences the detector, which
on correlated data keeps one of several real causes; the analyst reads ``changed`` as the causes.
``target="threshold"`` gives that strict minimum (``threshold - eps``) when it is what is wanted.

**Where and how much.** Where the adapter can reconstruct, the first start changes the K features
with the largest |gradient of the score| x |reconstruction - anomaly| (DeepAID's effectiveness,
with the reconstruction as the change) to the reconstruction's values, refined by reconstructing
that start again; a row whose start is already normal costs no descent. Other rows search in two
smooth phases: a dense descent without the L0 budget picks the K features whose change does most
for the objective (|smoothed gradient| x |change|), then a descent on that fixed support, batched
with the residual starts; each row keeps its finished reference nearest the anomaly, or the
lowest-scoring candidate where none reaches the target. Steps are taken in per-feature ``scale``
units. Gradients are taken at the projected point and applied to a continuous variable
(straight-through), so integer and one-hot features still move.

**Pruning and ranking** (``deepaid_sdk.search.prune_and_rank``): a change is undone only when the
reference still meets the target without it; the rest are ranked by how much undoing each
raises the score. K is a budget, not a quota.

Rows are searched in chunks of ``chunk_rows``; no row's result depends on the others or on the
batch size (checked by ``deepaid_sdk.testing.check_search``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import Tensor

from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.constraints import (
    Constraint,
    FidelityConstraint,
    changeable_mask,
    evaluate_all,
    max_changes,
    project_all,
)
from deepaid_sdk.distances import Distance
from deepaid_sdk.groups import choose_support, group_budget, without_budgets
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.model.differentiable import score_and_gradient
from deepaid_sdk.results.data import InterpretationBatch
from deepaid_sdk.search.base import ReferenceSearch, build_batch
from deepaid_sdk.search.descent import Descent, descend, flat
from deepaid_sdk.search.needs import budget_needs
from deepaid_sdk.search.ranking import prune_rank_and_score
from deepaid_sdk.search.starts import check_scale, noisy_start, pick, scale_for, settle_start
from deepaid_sdk.target import MODES, TargetPolicy, margin_of, strict_bound

STARTS = ("auto", "anomaly", "reconstruction", "both")
TARGETS = MODES
_flat = flat


class GradientSearch(ReferenceSearch):
    """DeepAID's constrained gradient search (continuous features; integer/one-hot via projection).

    :param steps: step budget per phase and row.
    :param lr: optimiser step size, in ``scale`` units (input units when no scale is given).
    :param optimizer: ``"adam"`` or ``"sgd"`` (with momentum).
    :param init_noise: std of seeded Gaussian noise added to the dense start, in ``scale`` units
        (robustness); 0 for none.
    :param seed: seed of that noise; the same noise pattern is used for every row, so a sample's
        result does not depend on the batch it is in.
    :param start: ``"anomaly"`` (the two phases from the anomaly); ``"reconstruction"`` (the K
        largest residual features, starting from the detector's reconstruction); ``"both"``;
        ``"auto"`` = both where the adapter can reconstruct.
    :param prune: after the search, undo changes the reference does not need to meet the target.
    :param patience: a row whose objective has not improved by the relative ``tolerance`` for this
        many steps stops (it keeps its best reference); the step budget still bounds every row.
    :param tolerance: the relative improvement of a row's best objective that counts as progress.
    :param lr_growth, lr_max: in the descent on the support, a row that did not overshoot grows its
        step by ``lr_growth`` per step, up to ``lr_max`` x ``lr`` (the dense phase, which chooses the
        support, keeps steps of at most ``lr``).
    :param target: ``"typical"`` (default: see the module docstring) or ``"threshold"`` (the strict
        minimum: just below ``threshold - eps``).
    :param quantile: the normal-score quantile a typical reference must reach.
    :param margin: without recorded normal scores, the typical target is this share of
        ``|threshold|`` below the threshold.
    :param scale: per-feature units ``[N]`` (e.g. each feature's std on normal rows): steps, start
        noise and the residual ranking are measured in them, so features of different units share
        one ``lr``. None: every feature in its own input unit.
    :param chunk_rows: rows searched together; bounds memory, never changes a row's result.
    :param rec_rounds: times the residual start's values are refined by reconstructing the start
        itself on its support (one model call each), before any descent.
    :param keep_share: with the typical target, a change whose undo raises the score by at least
        this share of the row's largest rise is kept even where the target would allow undoing it.

    Step sizes adapt per row: a row whose objective went up (it overshot) shrinks its step, a
    row that improves grows it back towards ``lr``, so long moves and a reference settled just
    inside a tight target both work with one ``lr``.
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
        target: str = "typical",
        quantile: float = 0.9,
        margin: float = 0.25,
        scale: Any = None,
        chunk_rows: int = 4096,
        rec_rounds: int = 3,
        keep_share: float = 0.2,
        tolerance: float = 1e-4,
        lr_growth: float = 1.1,
        lr_max: float = 1.0,
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
        self.policy = TargetPolicy(
            mode=target, quantile=check_finite_number(quantile, "quantile", minimum=0), fallback_share=margin
        )
        self.target, self.quantile, self.margin = target, self.policy.quantile, self.policy.fallback_share
        self.scale = check_scale(scale)
        self.chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
        self.rec_rounds = check_positive_int(rec_rounds, "rec_rounds", minimum=0)
        self.keep_share = check_finite_number(keep_share, "keep_share", minimum=0)
        if self.keep_share > 1:
            raise ValueError(f"keep_share: expected a share in [0, 1]; got {keep_share}")
        self.tolerance = check_finite_number(tolerance, "tolerance", minimum=0)
        self.lr_growth = check_finite_number(lr_growth, "lr_growth", minimum=1)
        self.lr_max = check_finite_number(lr_max, "lr_max", minimum=1)

    def describe(self) -> dict[str, Any]:
        """Every option of the search (``scale`` only as whether one was given), recorded for reproducibility."""
        return {
            "search": self.name,
            "steps": self.steps,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "init_noise": self.init_noise,
            "seed": self.seed,
            "start": self.start,
            "prune": self.prune,
            "patience": self.patience,
            "target": self.target,
            "quantile": self.quantile,
            "margin": self.margin,
            "scale": None if self.scale is None else "per-feature",
            "chunk_rows": self.chunk_rows,
            "rec_rounds": self.rec_rounds,
            "keep_share": self.keep_share,
            "tolerance": self.tolerance,
            "lr_growth": self.lr_growth,
            "lr_max": self.lr_max,
        }

    def target_score(self, adapter: ModelAdapter, eps: float | None = None) -> float:
        """The score every reference aims for (and pruning keeps): ``deepaid_sdk.target.TargetPolicy``."""
        return self.policy.score(adapter, eps)

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        started = time.perf_counter()
        scores, grad = score_and_gradient(adapter, anomalies, self.name, self.chunk_rows)
        given = next((c for c in constraints if isinstance(c, FidelityConstraint)), None)
        margin = margin_of(adapter, constraints)
        target = self.target_score(adapter, margin)
        # The search aims at the target: fidelity with the margin that reaches it.
        aimed = FidelityConstraint(eps=adapter.threshold - target, weight=1.0 if given is None else given.weight).bind(
            adapter, distance
        )
        constraints = [aimed, *(c for c in constraints if not isinstance(c, FidelityConstraint))]
        width = int(anomalies[0].numel()) if anomalies.shape[0] else 0
        k = min(max_changes(constraints) or width, width)
        scale = scale_for(self.scale, width, anomalies)
        found, steps, found_scores = self._search_all(
            adapter, anomalies, grad, constraints, distance, k, scale, strict_bound(adapter, margin)
        )
        refs_out, changed, ref_scores = prune_rank_and_score(
            adapter,
            constraints,
            anomalies,
            found,
            target,
            prune=self.prune,
            keep_share=self.keep_share if self.target == "typical" else None,
            scores=found_scores,
        )
        return build_batch(
            adapter,
            anomalies,
            refs_out,
            steps=steps,
            started=started,
            method=self.name,
            changed=changed,
            params={**self.describe(), "k": k, "target_score": target},
            scores=scores,
            reference_scores=ref_scores,
            needs=budget_needs(self, adapter, anomalies, refs_out, constraints, distance, ref_scores),
        )

    def _search_all(
        self,
        adapter: ModelAdapter,
        anomalies: Tensor,
        grad: Tensor,
        constraints: list[Constraint],
        distance: Distance,
        k: int,
        scale: Tensor,
        strict: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """References (shaped like ``anomalies``), steps ``[B]`` and the references' scores ``[B]`` of every
        row, ``chunk_rows`` at a time.

        Residual starts come first, for all rows. A start that is normal with the strict margin
        (``strict``) is kept without descent even when it misses the typical target: the descent
        only reaches further on the same K features, at a hundred times the cost, and pruning
        keeps every change it needs. The other rows are then gathered and descend together.
        """
        b = anomalies.shape[0]
        refs = _flat(anomalies).clone()
        steps = torch.zeros(b, dtype=torch.int64, device=anomalies.device)
        scores = torch.zeros(b, dtype=anomalies.dtype, device=anomalies.device)
        todo = torch.ones(b, dtype=torch.bool, device=anomalies.device)
        parts: list[tuple[Tensor, ...]] = []
        if self.start != "anomaly":
            offset = 0
            for part, part_grad in zip(anomalies.split(self.chunk_rows), grad.split(self.chunk_rows)):
                found = self._residual_start(adapter, part, part_grad, constraints, k, scale, strict)
                if found is None:
                    break
                parts.append(found[:4])
                todo[offset : offset + part.shape[0]] = ~found[4]
                scores[offset : offset + part.shape[0]] = found[5].to(scores.dtype)
                offset += part.shape[0]
        # (refined start, its support, plain residual start, its support) of every row
        residual = tuple(torch.cat(t) for t in zip(*parts)) if parts else None
        if residual is not None:
            refs = torch.where(todo[:, None], refs, residual[0])  # a start that fits costs no descent
        for rows in todo.nonzero().flatten().split(self.chunk_rows):
            if rows.numel() == 0:
                continue
            given = None if residual is None else [(residual[i][rows], residual[i + 1][rows]) for i in (0, 2)]
            refs[rows], steps[rows], picked = self._descend_rows(
                adapter, anomalies[rows], constraints, distance, k, scale, given
            )
            scores[rows] = picked.to(scores.dtype)
        return refs.reshape(anomalies.shape), steps, scores

    def _residual_start(
        self,
        adapter: ModelAdapter,
        anomalies: Tensor,
        grad: Tensor,
        constraints: list[Constraint],
        k: int,
        scale: Tensor,
        strict: float,
    ) -> tuple[Tensor, ...] | None:
        """``(start, support, plain start, its support, fits)`` of one chunk, or None without reconstruction."""
        with torch.no_grad():
            rec = adapter.reconstruct(anomalies)
        if rec is None:
            if self.start != "auto":
                raise ValueError(f"start={self.start!r}: {type(adapter).__name__} offers no reconstruction")
            return None
        shape = anomalies.shape[1:]
        movable = changeable_mask(constraints, anomalies)
        return settle_start(
            adapter,
            anomalies,
            grad,
            _flat(rec).to(anomalies.dtype),
            movable,
            k,
            scale,
            lambda t: t.reshape(t.shape[0], *shape),
            constraints,
            strict,
            self.rec_rounds,
        )

    def _descend_rows(
        self,
        adapter: ModelAdapter,
        anomalies: Tensor,
        constraints: list[Constraint],
        distance: Distance,
        k: int,
        scale: Tensor,
        residual: list[tuple[Tensor, Tensor]] | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The two-phase descent (and the residual start's, where given) of rows that need one: their
        references, steps and the references' scores."""
        shape = anomalies.shape[1:]
        a_r = _flat(anomalies)
        n = a_r.shape[1]
        movable_r = changeable_mask(constraints, anomalies)

        def shaped(t: Tensor) -> Tensor:
            return t.reshape(t.shape[0], *shape)

        starts, supports, first_phase = [], [], []
        if self.start in ("auto", "both", "anomaly"):
            dense = self._descend(
                without_budgets(constraints),
                noisy_start(a_r, movable_r, scale, self.init_noise, self.seed),
                a_r,
                movable_r,
                scale,
                shaped,
                per_row=True,
            )
            first_phase.append(dense.steps)
            if k < n or group_budget(constraints) is not None:
                # |gradient| x |change| in input units (the stored gradients are in scale units),
                # so the choice does not depend on the units the features are measured in.
                effect = (dense.grad_sq.sqrt() / scale * (dense.best - a_r).abs()).masked_fill(~movable_r, -1.0)
                supports.append(choose_support(effect, k, constraints, movable_r))
                starts.append(torch.where(supports[-1], dense.best, a_r))
            else:
                supports.append(movable_r)
                starts.append(dense.best)
        for start, support in residual or ():
            starts.append(start)
            supports.append(support)
            first_phase.append(torch.zeros(a_r.shape[0], dtype=torch.int64, device=a_r.device))
        s = len(starts)
        sparse = self._descend(constraints, torch.cat(starts), a_r.repeat(s, 1), torch.cat(supports), scale, shaped)
        # A row's steps: its dense phase (if its start had one) plus its descent on the support.
        sparse.steps = sparse.steps + torch.cat(first_phase)
        # The starts stay candidates: the descent trades score for closeness, so where no
        # reference reaches the target, a start may still be the lowest-scoring one.
        a_s = a_r.repeat(s, 1)
        with torch.no_grad():
            begun = _flat(project_all(constraints, shaped(torch.cat(starts)), shaped(a_s)))
            begun_ok = evaluate_all(constraints, shaped(begun), shaped(a_s))[1]
        sparse = Descent(
            torch.cat([sparse.best, begun]),
            torch.cat([sparse.done, begun_ok]),
            torch.cat([sparse.steps, torch.cat(first_phase)]),
            sparse.grad_sq,
        )
        picked, picked_steps, picked_scores = pick(sparse, a_r, 2 * s, a_r.shape[0], adapter, distance, shaped)
        return picked.to(a_r.dtype), picked_steps, picked_scores

    def _descend(
        self,
        constraints: list[Constraint],
        start: Tensor,
        a: Tensor,
        movable: Tensor,
        scale: Tensor,
        shaped: Callable[[Tensor], Tensor],
        *,
        per_row: bool = False,
    ) -> Descent:
        """``descend`` with this search's step budget, step size, patience and optimiser."""
        return descend(
            constraints,
            start,
            a,
            movable,
            scale,
            shaped,
            steps_budget=self.steps,
            lr=self.lr,
            patience=self.patience,
            optimizer=self.optimizer,
            per_row=per_row,
            tolerance=self.tolerance,
            lr_growth=1.1 if per_row else self.lr_growth,
            lr_max=self.lr * (1.0 if per_row else self.lr_max),
        )
