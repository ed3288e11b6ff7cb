"""Is ``k`` a budget for the gradient-free search? IsolationForest on correlated features (issue 21).

The case: ``correlated.correlated_manifold`` with 20 features from 3 latent factors, 3 planted
features shifted by 0.6-0.9 (data in [0, 1]), an sklearn ``IsolationForest`` (100 trees) with its
threshold at the 99th percentile of the normal rows' scores, and the first ``n`` rows it flags.
Each row of the figures explains the same alerts at one K, F = 3 and above (fewer planted than K:
precision shows whether the budget is spent on non-causes), with the ``blackbox`` search (the
``tabular`` preset's) beside the ``nearest_normal`` baseline (the nearest normal row's K most
different features), in the same run.

Rows have the columns of ``deepaid bench search`` (``reference_quality.COLUMNS``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np
import torch

from deepaid_sdk.bench.compare import baseline_explainers
from deepaid_sdk.bench.correlated import correlated_manifold
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.model.foreign import SklearnAdapter
from deepaid_sdk.presets import create
from deepaid_sdk.results import InterpretationBatch


def precision_recall(batch: InterpretationBatch, truth: np.ndarray, k: int) -> tuple[float, float]:
    """``reference_quality.precision_recall`` (imported late: that module reads this one)."""
    from deepaid_sdk.bench.reference_quality import precision_recall as measured

    return measured(batch, truth, k)


WIDTH, LATENT, PLANTED = 20, 3, 3
SHIFT = (0.6, 0.9)
PERCENTILE = 99.0
#: The budgets measured: K = F, and two above it (fewer planted than K).
BUDGETS = (PLANTED, PLANTED + 1, 2 * PLANTED)


def forest_case(n: int = 200, seed: int = 0) -> tuple[SklearnAdapter, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(adapter, normal, alerts, truth, score / threshold)`` of the case: the first ``n`` flagged rows."""
    from sklearn.ensemble import IsolationForest

    data = correlated_manifold(WIDTH, LATENT, PLANTED, n_normal=5000, n_candidates=n * 40, shift=SHIFT, seed=seed)
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(data.normal)
    adapter = SklearnAdapter(forest)
    threshold = adapter.calibrate(data.normal, PERCENTILE)
    ratio = (adapter.scores(data.candidates) / threshold).cpu().numpy()
    keep = np.flatnonzero(ratio > 1.0)[:n]
    return adapter, data.normal, data.candidates[keep], data.truth[keep], ratio[keep]


def measure(
    case: str,
    kind: str,
    k: int,
    method: str,
    explain: Callable[[np.ndarray], InterpretationBatch],
    x: np.ndarray,
    truth: np.ndarray,
    ratio: np.ndarray,
) -> tuple[Any, ...]:
    """One row of the search bench's table: recall@K, precision, flip, mean changes and alerts/s (after a
    warm-up call on 4 rows: first-call costs are not throughput)."""
    explain(x[:4])
    started = time.perf_counter()
    batch = explain(x)
    seconds = time.perf_counter() - started
    precision, recall = precision_recall(batch, truth, k)
    spread = "{:.2f}/{:.2f}/{:.2f}".format(*np.quantile(ratio, [0.0, 0.5, 1.0]))
    return (
        case, kind, len(x), spread, k, method, round(recall, 4), round(precision, 4), round(batch.flip_rate, 4),
        round(float(batch.changed_mask().sum(axis=1).mean()), 2), round(len(x) / seconds, 1),
    )  # fmt: skip


def budget_rows(
    case: str,
    kind: str,
    adapter: ModelAdapter,
    normal: np.ndarray,
    x: np.ndarray,
    truth: np.ndarray,
    ratio: np.ndarray,
    budgets: Sequence[int],
) -> list[tuple[Any, ...]]:
    """The blackbox search (the ``tabular`` preset's) and the nearest-normal baseline at every budget."""
    rows = []
    for k in budgets:
        ours = create("tabular", model=adapter, normal=normal, k=k, search="blackbox")
        nearest = baseline_explainers(adapter, k, normal=normal)["nearest_normal"]
        rows.append(measure(case, kind, k, "deepaid blackbox", ours.interpret_batch, x, truth, ratio))
        rows.append(measure(case, kind, k, "nearest_normal", lambda r: nearest(r, 0), x, truth, ratio))  # noqa: B023
    return rows


def forest_rows(n: int = 200, seed: int = 0, budgets: Sequence[int] = BUDGETS) -> list[tuple[Any, ...]]:
    """``budget_rows`` on the IsolationForest case."""
    adapter, normal, x, truth, ratio = forest_case(n, seed)
    return budget_rows(f"iforest-c{WIDTH}-F{PLANTED}", "flagged", adapter, normal, x, truth, ratio, budgets)


def note(rows: Sequence[tuple[Any, ...]]) -> str:
    """The rows as one line per row, with the torch threads the figures ran on."""
    cells = [f"K={r[4]} {r[5]}: recall {r[6]}, precision {r[7]}, flip {r[8]}, changed {r[9]}, {r[10]}/s" for r in rows]
    return (
        f"blackbox budget (IsolationForest, {WIDTH} correlated features, {PLANTED} planted, "
        f"{rows[0][2] if rows else 0} alerts, torch threads={torch.get_num_threads()}): " + "; ".join(cells)
    )
