"""``deepaid bench multits``: our search against the continuous baselines on synthetic traffic series.

Data: 10 correlated traffic-like features; each event plants a spike or a level shift in 3 known
features at a known step; the alerts are the windows (W=16) ending at an event's onset that the
LSTM predictor flags. Every method may change K=3 cells, in the window's last vector (the other
rows are frozen for all methods). Ours is also run with ``steps="all"`` (any cell of the window).
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import torch

from deepaid_sdk.benchmarks.case import BenchmarkCase
from deepaid_sdk.benchmarks.report import BenchmarkReport
from deepaid_sdk.checks import check_device
from deepaid_sdk.constraints import FrozenConstraint
from deepaid_sdk.interpreter import create
from deepaid_sdk.results import InterpretationBatch
from deepaid_plugin_multits.detector import SyntheticDetector, fit_detector
from deepaid_plugin_multits.synthetic import make_multits

PLANTED = 3


def build_case(det: SyntheticDetector, *, seed: int = 0, device: str = "cpu", normal_limit: int = 2000,
               baselines: bool = True) -> BenchmarkCase:
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
        from deepaid_sdk.benchmarks.compare import baseline_explainers

        frozen_context = FrozenConstraint(list(range(w * d)))
        # Same question for every method: which cells of the last vector; the context stays.
        explainers.update(baseline_explainers(adapter, k, normal=det.normal_samples(normal_limit),
                                              kind="continuous", constraints=[frozen_context]))

    def is_normal(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return adapter.is_normal(adapter.prepare(batch, "batch")).cpu().numpy()

    return BenchmarkCase(
        name="multits-traffic", anomalies=x, k=k, explainers=explainers, is_normal=is_normal, truth=truth,
        truth_metric="recall",
        setup={"seed": seed, "device": device, "data": f"{d} traffic features, W={w}, {k} planted per event "
               f"(spike/shift), {len(samples)} events, {len(x)} alerts",
               "detector": f"LSTM({d}->{adapter.model.hidden})+linear, threshold p99 of training RMSE",
               "baselines": "last vector only (context frozen)"},
    )


def run(n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None) -> BenchmarkReport:
    """Recall@K, flip@K, stability, robustness and speed on ``n`` planted events (default 1,000)."""
    check_device(device)
    from deepaid_sdk.benchmarks.compare import compare

    data = make_multits(events=n or 1000, planted=PLANTED, seed=seed)
    det = fit_detector(data, seed=seed, device=device)
    return compare(build_case(det, seed=seed, device=device), out)
