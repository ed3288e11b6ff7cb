"""``deepaid bench search``: does the default explanation name every cause, and only the causes?

A family of correlated-manifold cases (``correlated.correlated_manifold``: width 40-200, 3-10
latent factors, 2-10 planted features), each at K = F/2, F and 2F (F planted), with *hard* alerts
(score 1.0-1.2x the threshold) and *large* shifts. Every method explains the same alerts with
the same K: ours (the ``tabular`` preset's defaults), the reconstruction residual and the
attribution baselines. Figures: recall@K, precision (planted share of what is changed), flip
(the reference is judged normal), mean changes, alerts/s. Plus a detector with no
reconstruction (the autoencoder exposed only as a score function), robustness of the changed
set under a gradient attack and under random noise of the same size, stability under Gaussian
noise (std 0.01 and 0.001, ``bench.stability``) of ours and the residual at K = 2 .. 20 on every
continuous detector, and throughput at D=100, K=10 on 10,000 alerts against the residual in the
same run. ``c40`` and ``c40-small`` are the count cases: the m40 design's rows as whole counts
0 .. 10 and 0 .. 3 (``correlated.as_counts``), declared integer to ours.

Run with ``OMP_NUM_THREADS=1``: the figures of a shared machine are only comparable on one thread.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import attrs
import numpy as np
import torch

from deepaid_sdk.bench.blackbox_budget import measure
from deepaid_sdk.bench.compare import baseline_explainers, machine
from deepaid_sdk.bench.correlated import as_counts, correlated_manifold, train_relu_autoencoder
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.bench.stability import random_perturbation, residual_attack, stability_rows, tables
from deepaid_sdk.bench.synthetic import manifold_data, train_autoencoder
from deepaid_sdk.constraints import IntegerConstraint
from deepaid_sdk.evaluation import jaccard
from deepaid_sdk.model.adapters import ModelAdapter, ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.presets import create
from deepaid_sdk.progress import progress
from deepaid_sdk.results import InterpretationBatch

Explain = Callable[[np.ndarray], InterpretationBatch]


@attrs.frozen
class Design:
    """One detector of the family: data shape, planted causes, and the shifts of each alert kind."""

    name: str
    width: int
    latent: int
    planted: int
    counts: int = 0
    """Largest count where the features are whole counts ``0 .. counts``; 0: continuous in [0, 1]."""


#: The family (F planted features; each case runs at K = F/2, F, 2F).
DESIGNS = (
    Design("m40", 40, 3, 3),
    Design("m60", 60, 6, 4),
    Design("m100", 100, 4, 10),
    Design("m200", 200, 8, 6),
    Design("c40", 40, 3, 3, counts=10),
    Design("c40-small", 40, 3, 3, counts=3),
)
#: Alert kinds: shift range and the band of score / threshold an alert must fall in.
KINDS = {"hard": ((0.35, 0.6), (1.0, 1.2)), "large": ((0.6, 0.9), (1.2, np.inf))}
#: Baselines compared on every case (the slow perturbation ones run on the robustness case only).
BASELINES = ("residual", "deeplift", "integrated_gradients", "saliency", "input_x_gradient")


@attrs.define(eq=False)
class Detector:
    """A trained autoencoder on one design's normal rows, its adapter and its alert candidates."""

    design: Design
    normal: np.ndarray
    model: torch.nn.Module
    adapter: ReconstructionAdapter
    candidates: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    """kind -> (alerts, truth, score / threshold)."""


def build_detector(design: Design, *, n: int, seed: int, quiet: bool = False) -> Detector:
    """Train the design's ReLU autoencoder (threshold: 99.9th percentile of normal RMSE) and pick alerts."""
    data = {
        kind: correlated_manifold(
            design.width, design.latent, design.planted, n_normal=10_000, n_candidates=n * 40, shift=shift, seed=seed
        )
        for kind, (shift, _) in KINDS.items()
    }
    if design.counts:
        data = {kind: as_counts(d, design.counts) for kind, d in data.items()}
    normal = data["hard"].normal
    # Wide data converges more slowly: 30 epochs fit D <= 100, D = 200 needs 60.
    model = train_relu_autoencoder(
        normal,
        epochs=30 if design.width <= 100 else 60,
        seed=seed,
        quiet=quiet,
        hidden=max(32, design.width // 2),
        bottleneck=max(8, design.latent + 2),
    )
    adapter = ReconstructionAdapter(model, sample_shape=(design.width,))
    threshold = adapter.calibrate(normal, 99.9)
    candidates = {}
    for kind, (_, (low, high)) in KINDS.items():
        ratio = (adapter.scores(data[kind].candidates) / threshold).cpu().numpy()
        keep = np.flatnonzero((ratio > low) & (ratio <= high))[:n]
        candidates[kind] = (data[kind].candidates[keep], data[kind].truth[keep], ratio[keep])
    return Detector(design, normal, model, adapter, candidates)


def precision_recall(batch: InterpretationBatch, truth: np.ndarray, k: int) -> tuple[float, float]:
    """Planted share of the (first k) changed features, and recall@k over min(k, planted)."""
    chosen = np.zeros(truth.shape, dtype=bool)
    for i, changed in enumerate(batch.changed):  # ragged lists: result assembly only
        chosen[i, np.asarray(changed, dtype=np.int64)[:k]] = True
    hits = (chosen & truth).sum(axis=1)
    precision = hits / np.maximum(chosen.sum(axis=1), 1)
    recall = np.minimum(hits / np.maximum(np.minimum(truth.sum(axis=1), k), 1), 1.0)
    return float(precision.mean()), float(recall.mean())


def _ours(model: torch.nn.Module, normal: np.ndarray, adapter: ModelAdapter, k: int, **options: Any) -> Explain:
    interp = create("tabular", model=model, threshold=adapter.threshold, normal=normal, k=k, **options)
    return interp.interpret_batch


def _valid(det: Detector) -> dict[str, Any]:
    """What ours is told about the valid domain: count designs declare every feature a whole number."""
    return {"constraints": [IntegerConstraint()]} if det.design.counts else {}


def _score_only(model: torch.nn.Module, width: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The autoencoder's RMSE as a plain score function: no reconstruction for any method to use."""

    def score(x: torch.Tensor) -> torch.Tensor:
        return (model(x) - x).pow(2).mean(dim=1).add(1e-12).sqrt()

    return score


def _methods(
    det: Detector, k: int, baselines: Sequence[str], adapter: ModelAdapter | None = None, model: Any = None
) -> dict[str, Explain]:
    adapter = adapter or det.adapter
    out = {"deepaid": _ours(model if model is not None else det.model, det.normal, adapter, k, **_valid(det))}
    found = baseline_explainers(adapter, k, normal=det.normal)
    # A lambda with a default argument fits Explain, but mypy cannot infer its type (Explain takes one argument).
    out.update({name: (lambda x, fn=found[name]: fn(x, 0)) for name in baselines if name in found})  # type: ignore[misc]
    return out


COLUMNS = (
    "case",
    "alerts",
    "n",
    "score/thr min/med/max",
    "K",
    "method",
    "recall@K",
    "precision",
    "flip",
    "changed",
    "alerts/s",
)


def quality_rows(det: Detector, baselines: Sequence[str], quiet: bool = False) -> list[tuple[Any, ...]]:
    """Every kind x K x method of one detector."""
    f = det.design.planted
    rows = []
    todo = [(kind, k) for kind in KINDS for k in sorted({max(1, f // 2), f, 2 * f})]
    for kind, k in progress(todo, desc=f"{det.design.name} cases", quiet=quiet):
        x, truth, ratio = det.candidates[kind]
        if len(x) == 0:
            continue
        for method, explain in _methods(det, k, baselines).items():
            rows.append(measure(det.design.name, kind, k, method, explain, x, truth, ratio))
    return rows


def score_only_rows(det: Detector, baselines: Sequence[str]) -> list[tuple[Any, ...]]:
    """The same detector exposed only as a score function: no reconstruction, ours must descend."""
    adapter = ScoreAdapter(
        _score_only(det.model, det.design.width), det.adapter.threshold, sample_shape=(det.design.width,)
    )
    adapter.observe_normal(det.normal)
    k = det.design.planted
    x, truth, ratio = det.candidates["hard"]
    rows = []
    for method, explain in _methods(det, k, [b for b in baselines if b != "residual"], adapter, adapter).items():
        rows.append(measure(f"{det.design.name}-score-only", "hard", k, method, explain, x, truth, ratio))
    from deepaid_sdk.bench import blackbox_budget

    # The gradient-free search on the same score, at K = F and 2F (fewer planted than K), and on a forest.
    case = f"{det.design.name}-score-only"
    rows += blackbox_budget.budget_rows(case, "hard", adapter, det.normal, x, truth, ratio, (k, 2 * k))
    return [*rows, *blackbox_budget.forest_rows()]


# -- robustness under attack ---------------------------------------------------------------------


def robustness_rows(
    det: Detector, k: int, size: float, seed: int, n: int, options: dict[str, dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """Jaccard of each method's changed set, clean vs attacked and clean vs random noise."""
    x_np, truth, _ = det.candidates["hard"]
    x = torch.as_tensor(x_np[:n])
    found = baseline_explainers(det.adapter, k, normal=det.normal)
    methods: dict[str, Explain] = {
        name: _ours(det.model, det.normal, det.adapter, k, **opts) for name, opts in options.items()
    }
    methods["residual"] = lambda rows: found["residual"](rows, 0)
    rows = []
    for name, explain in methods.items():
        clean = explain(x.numpy())
        mask = torch.as_tensor(clean.changed_mask())
        attacked = residual_attack(det.adapter, x, mask, size)
        noisy = random_perturbation(x, size, seed, det.adapter)
        under_attack = explain(attacked.numpy())
        under_noise = explain(noisy.numpy())
        recall = precision_recall(clean, truth[:n], k)[1]
        rows.append(
            (
                f"{det.design.name} hard",
                name,
                k,
                size,
                round(recall, 4),
                round(float(jaccard(clean.changed_mask(), under_attack.changed_mask()).mean()), 4),
                round(float(jaccard(clean.changed_mask(), under_noise.changed_mask()).mean()), 4),
                round(precision_recall(under_attack, truth[:n], k)[1], 4),
            )
        )
    return rows


#: Budgets of the stability columns.
STABILITY_KS = (2, 4, 8, 10, 20)


def stability_notes(det: Detector, seed: int, ks: Sequence[int] = STABILITY_KS, quiet: bool = False) -> list[str]:
    """Stability under Gaussian noise (std 0.01 and 0.001) of ours and the residual at every K of ``ks``,
    on the hard and large alerts of one detector. The noisy copies are not clipped: the data declare no
    input domain (ours' box bounds references, not inputs)."""
    x = np.concatenate([det.candidates[kind][0] for kind in KINDS])

    def ours(k: int) -> Any:
        return create(
            "tabular", model=det.model, threshold=det.adapter.threshold, normal=det.normal, k=k, **_valid(det)
        )

    def explainers(k: int) -> dict[str, Explain]:
        residual = baseline_explainers(det.adapter, k, normal=det.normal)["residual"]
        return {"deepaid": ours(k).interpret_batch, "residual": lambda rows: residual(rows, 0)}

    rows = stability_rows(det.adapter, explainers, x, ks, seed=seed, quiet=quiet)
    return tables(rows, [], f"{det.design.name} hard+large")


# -- throughput ----------------------------------------------------------------------------------


def throughput(n: int = 10_000, k: int = 10, seed: int = 0, quiet: bool = False) -> dict[str, float]:
    """Alerts/s of ours and of the residual on the same ``n`` alerts (D=100, K=10), same run."""
    normal, anomalies, _ = manifold_data(20_000, int(n * 1.3), 100, 10, 10, seed)
    model = train_autoencoder(normal, epochs=10, seed=seed)
    adapter = ReconstructionAdapter(model, sample_shape=(100,))
    adapter.calibrate(normal, 99.0)
    x = anomalies[~adapter.is_normal(adapter.prepare(anomalies, "anomalies")).cpu().numpy()][:n]
    ours = create("tabular", model=model, threshold=adapter.threshold, normal=normal, k=k)
    residual = baseline_explainers(adapter, k, normal=normal)["residual"]
    ours.interpret_batch(x[:8])
    residual(x[:8], 0)
    started = time.perf_counter()
    batch = ours.interpret_batch(x)
    t_ours = time.perf_counter() - started
    started = time.perf_counter()
    residual(x, 0)
    t_res = time.perf_counter() - started
    return {
        "alerts": float(len(x)),
        "ours/s": len(x) / t_ours,
        "residual/s": len(x) / t_res,
        "ratio": t_res / t_ours,
        "descended": float((batch.steps > 0).mean()),
        "flip": batch.flip_rate,
    }


def run(
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    out: Any = None,
    *,
    designs: Sequence[Design] = DESIGNS,
    baselines: Sequence[str] = BASELINES,
    speed_alerts: int = 10_000,
    quiet: bool = False,
) -> BenchmarkReport:
    """The family (``n`` alerts per case and kind, default 120), score-only, robustness, speed."""
    if device != "cpu":
        raise ValueError(f"device: this benchmark runs on cpu (the figures are one-thread CPU figures); got {device!r}")
    n = 120 if n is None else int(n)
    rows: list[tuple[Any, ...]] = []
    notes: list[str] = []
    detectors = []
    for design in designs:
        det = build_detector(design, n=n, seed=seed, quiet=quiet)
        detectors.append(det)
        rows.extend(quality_rows(det, baselines, quiet=quiet))
    rows.extend(score_only_rows(detectors[min(1, len(detectors) - 1)], baselines))
    for det in detectors:
        if not det.design.counts:  # noise of std 0.01 on whole counts rounds back to the same input
            notes.extend(stability_notes(det, seed, quiet=quiet))
    robust_det = detectors[min(1, len(detectors) - 1)]
    for r in robustness_rows(
        robust_det,
        robust_det.design.planted,
        0.03,
        seed,
        128,
        {"deepaid": {}, "deepaid init_noise=0.01": {"search_options": {"init_noise": 0.01}}},
    ):
        notes.append(
            "robustness {} {}: K={} size +-{} recall {} | Jaccard under attack {} | under noise {} | "
            "recall under attack {}".format(*r)
        )
    speed = throughput(speed_alerts, seed=seed, quiet=quiet)
    notes.append(
        f"throughput D=100 K=10, {int(speed['alerts'])} alerts, torch threads={torch.get_num_threads()}: "
        f"ours {speed['ours/s']:,.0f}/s, residual {speed['residual/s']:,.0f}/s (ratio 1/"
        f"{1 / speed['ratio']:.1f}); rows that needed descent {speed['descended']:.3f}; "
        f"flip {speed['flip']:.4f}"
    )
    from deepaid_sdk.bench.speed import report_notes  # it imports this module

    notes.extend(report_notes(detectors, seed=seed, alerts=speed_alerts, quiet=quiet))
    return BenchmarkReport(
        name="search",
        columns=COLUMNS,
        rows=tuple(rows),
        setup={
            "machine": machine(),
            "seed": seed,
            "threshold": "99.9th pct of normal RMSE",
            "detector": "ReLU AE D-max(32,D/2)-max(8,latent+2)-..-D",
        },
        notes=tuple(notes),
    )
