"""``deepaid bench multits``: our search against the continuous baselines on synthetic traffic series.

Data: 10 correlated traffic-like features; each event plants a spike or a level shift in 3 known
features at a known step; the alerts are the windows (W=16) ending at an event's onset that the
LSTM predictor flags. Every method may change K=3 cells, in the window's last vector (the other
rows are frozen for all methods). Ours is also run with ``steps="all"`` (any cell of the window).

Second case, ``multits-context`` (issue 10): the same detector on a test series of spikes only,
each alert window ending 1 .. W - 1 steps after its spike, so the planted cells sit in one context
row and the last vector is clean. The alerts are the windows the *all-steps* score flags
(``AllStepsAdapter``, calibrated at p99 of the training windows); each method may change K=3
cells anywhere in the window. Ours with ``score="all"`` (row ``deepaid-all-steps-score``) against
the last-step score with ``steps="all"`` (``deepaid-all-steps``, what the preset did before) and
the baselines on the all-steps score; KernelSHAP and LIME are left out there (they sample the
170 cells of a window, minutes per seed at this size).
"""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
import numpy as np
import torch

from deepaid_plugin_multits.detector import SyntheticDetector, fit_detector
from deepaid_plugin_multits.synthetic import make_multits
from deepaid_sdk.bench.case import BenchmarkCase
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.checks import check_device
from deepaid_sdk.constraints import FrozenConstraint
from deepaid_sdk.presets import create
from deepaid_sdk.results import InterpretationBatch

PLANTED = 3


def build_case(
    det: SyntheticDetector, *, seed: int = 0, device: str = "cpu", normal_limit: int = 2000, baselines: bool = True
) -> BenchmarkCase:
    """The benchmark case of a fitted synthetic detector: its detected alerts, truth and explainers."""
    adapter = det.adapter
    samples, truth, alerts = det.events()
    x, truth = samples[alerts], truth[alerts]
    if len(x) == 0:
        raise ValueError("the detector raised no alert on the planted events; nothing to explain")
    w, d = det.data.window, det.data.features
    k = int(det.data.config["planted"])

    def ours(steps: str):
        def explain(anomalies: np.ndarray, run_seed: int) -> InterpretationBatch:
            interp = create("multits", model=adapter, k=k, steps=steps, search_options={"seed": run_seed})
            return interp.interpret_batch(anomalies)

        return explain

    explainers: dict[str, Any] = {"deepaid": ours("last"), "deepaid-all-steps": ours("all")}
    # One-time costs (loading every plugin into the registry, torch's first autograd call) are
    # paid here, not by whichever method the comparison happens to time first.
    explainers["deepaid"](x[:2], 0)
    if baselines:
        from deepaid_sdk.bench.compare import baseline_explainers

        frozen_context = FrozenConstraint(list(range(w * d)))
        # Same question for every method: which cells of the last vector; the context stays.
        explainers.update(
            baseline_explainers(
                adapter, k, normal=det.normal_samples(normal_limit), kind="continuous", constraints=[frozen_context]
            )
        )

    def is_normal(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return adapter.is_normal(adapter.prepare(batch, "batch")).cpu().numpy()

    return BenchmarkCase(
        name="multits-traffic",
        anomalies=x,
        k=k,
        explainers=explainers,
        is_normal=is_normal,
        truth=truth,
        truth_metric="recall",
        setup={
            "seed": seed,
            "device": device,
            "data": f"{d} traffic features, W={w}, {k} planted per event "
            f"(spike/shift), {len(samples)} events, {len(x)} alerts",
            "detector": f"LSTM({d}->{adapter.model.hidden})+linear, threshold p99 of training RMSE",
            "baselines": "last vector only (context frozen)",
        },
    )


#: Baselines left out of the context case: sampling methods whose cost grows with the 170 cells.
SLOW_ON_WINDOWS = ("kernel_shap", "lime")


def build_context_case(
    det: SyntheticDetector, *, seed: int = 0, device: str = "cpu", normal_limit: int = 2000, baselines: bool = True
) -> BenchmarkCase:
    """Context-step anomalies: windows whose planted spike sits in a context row, flagged by the all-steps score."""
    normal = det.normal_samples(normal_limit)
    scored = det.adapter.all_steps()
    scored.calibrate(normal)
    windows, truth_all = det.data.context_samples(seed)
    samples = det.scaler.transform(windows).astype(np.float32)
    flagged = (scored.scores(samples) > scored.threshold).cpu().numpy()
    flagged_last = int((det.adapter.scores(samples) > det.adapter.threshold).sum())
    x, truth = samples[flagged], truth_all[flagged]
    if len(x) == 0:
        raise ValueError("the all-steps score raised no alert on the context windows; nothing to explain")
    k = int(det.data.config["planted"])

    def ours(score: str):
        def explain(anomalies: np.ndarray, run_seed: int) -> InterpretationBatch:
            model = scored if score == "all" else det.adapter
            interp = create("multits", model=model, k=k, steps="all", search_options={"seed": run_seed})
            return interp.interpret_batch(anomalies)

        return explain

    explainers: dict[str, Any] = {"deepaid-all-steps-score": ours("all"), "deepaid-all-steps": ours("last")}
    explainers["deepaid-all-steps-score"](x[:2], 0)  # one-time costs, as in build_case
    if baselines:
        from deepaid_sdk.bench.compare import baseline_explainers

        found = baseline_explainers(scored, k, normal=normal, kind="continuous")
        explainers.update({name: e for name, e in found.items() if name not in SLOW_ON_WINDOWS})

    def is_normal(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return scored.is_normal(scored.prepare(batch, "batch")).cpu().numpy()

    w, d = det.data.window, det.data.features
    return BenchmarkCase(
        name="multits-context",
        anomalies=x,
        k=k,
        explainers=explainers,
        is_normal=is_normal,
        truth=truth,
        truth_metric="recall",
        setup={
            "seed": seed,
            "device": device,
            "context data": f"{len(samples)} windows ending 1..{w - 1} steps after a spike in {k} of {d} "
            f"features; {len(x)} flagged by the all-steps score (p99), {flagged_last} by the last-step score",
            "context baselines": f"all-steps score, any cell; {', '.join(SLOW_ON_WINDOWS)} left out",
        },
    )


#: Budgets of the stability columns (the last vector has 10 features; K = 10 would change them all).
STABILITY_KS = (2, 3, 5, 8)


def stability_notes(
    det: SyntheticDetector, case: BenchmarkCase, *, seed: int = 0, normal_limit: int = 2000
) -> list[str]:
    """Stability under Gaussian noise (std 0.01 and 0.001 in the model's units, on the whole window) at
    ``STABILITY_KS`` and robustness under the residual attack (+-0.03, 128 alerts) at the case's K:
    ours (last vector) beside the residual (last vector, context frozen), on the case's alerts."""
    from deepaid_sdk.bench.compare import baseline_explainers
    from deepaid_sdk.bench.stability import robustness_rows, stability_rows, tables

    adapter = det.adapter
    frozen = [FrozenConstraint(list(range(det.data.window * det.data.features)))]
    normal = det.normal_samples(normal_limit)

    def explainers(k: int) -> dict[str, Any]:
        interp = create("multits", model=adapter, k=k, steps="last")
        found = baseline_explainers(adapter, k, normal=normal, kind="continuous", constraints=frozen)["residual"]
        return {"deepaid": interp.interpret_batch, "residual": lambda x: found(x, 0)}

    stable = stability_rows(adapter, explainers, case.anomalies, STABILITY_KS, seed=seed)
    robust = robustness_rows(adapter, explainers(int(case.k)), case.anomalies[:128], int(case.k), seed=seed)
    return tables(stable, robust, case.name)


def run(n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None) -> BenchmarkReport:
    """Recall@K, flip@K, stability, robustness and speed on ``n`` planted events (default 1,000), both cases,
    then stability under noise and robustness under attack of ours beside the residual (``stability_notes``).

    Reduced mode: ``deepaid bench multits --n 150`` (150 events; the full run takes about 35 min on 2 cores)."""
    check_device(device)
    from deepaid_sdk.bench.compare import compare

    data = make_multits(events=n or 1000, planted=PLANTED, seed=seed)
    det = fit_detector(data, seed=seed, device=device)
    # Same generator and seed, spikes only: the same training series, so the same (cached) detector.
    spikes = make_multits(events=n or 1000, planted=PLANTED, kinds=("spike",), seed=seed)
    det_spikes = fit_detector(spikes, seed=seed, device=device)
    case = build_case(det, seed=seed, device=device)
    report = compare([case, build_context_case(det_spikes, seed=seed, device=device)], out)
    return attrs.evolve(report, notes=(*report.notes, *stability_notes(det, case, seed=seed)))
