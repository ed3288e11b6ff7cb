"""Speed of ``deepaid bench search`` on hard alerts and on one alert at a time, beside the residual.

Hard alerts are those of the m60 design (D=60, 6 latent factors, 4 planted features, K=4) that score
1.0-1.2x the threshold, explained with ``normal=`` given. Two detectors see the same alerts: the
autoencoder itself (a row whose residual start is normal needs no descent) and the same autoencoder
exposed only as a score function (no reconstruction: every row descends). Figures, each beside the
reconstruction residual in the same run and with the load average at that moment:

- alerts/s on a batch of 64 (best of 3 calls) and on ``n`` alerts (one call, 10,000 by default);
- one alert through ``interpret``: forward calls of the model (counted by a hook on the module), the
  median milliseconds, and those milliseconds in forwards of one row (the model alone, timed here).

Run with one torch thread (``OMP_NUM_THREADS=1``); the forward counts do not depend on load.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch

from deepaid_sdk.bench.compare import baseline_explainers
from deepaid_sdk.bench.correlated import correlated_manifold
from deepaid_sdk.bench.reference_quality import KINDS, Detector, _score_only
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.presets import create
from deepaid_sdk.progress import progress

Explain = Callable[[np.ndarray], Any]

#: Rows of the small batch, calls it is timed over (the best counts), and alerts timed one at a time.
BATCH, BATCH_CALLS, SINGLE_ALERTS = 64, 3, 30


def load() -> str:
    """The 1-minute load average, as printed beside every time."""
    return f"load {os.getloadavg()[0]:.2f}"


class ForwardCounter:
    """Counts calls of a module's ``forward`` (a pre-hook) while the ``with`` block runs."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.calls = model, 0
        self._hook: Any = None

    def __enter__(self) -> ForwardCounter:
        self.calls = 0
        self._hook = self.model.register_forward_pre_hook(lambda *_: self._count())
        return self

    def _count(self) -> None:
        self.calls += 1

    def __exit__(self, *exc: Any) -> None:
        assert self._hook is not None
        self._hook.remove()


def hard_alerts(det: Detector, n: int, seed: int) -> np.ndarray:
    """``n`` alerts of the detector's design scoring 1.0-1.2x its threshold: the generator with the detector's
    ``seed`` (the same mixing and normal rows, drawn before the candidates) and more candidates."""
    d = det.design
    shift, (low, high) = KINDS["hard"]
    candidates = 20 * n
    while True:
        data = correlated_manifold(
            d.width, d.latent, d.planted, n_normal=10_000, n_candidates=candidates, shift=shift, seed=seed
        )
        ratio = (det.adapter.scores(data.candidates) / det.adapter.threshold).cpu().numpy()
        found = data.candidates[(ratio > low) & (ratio <= high)]
        if len(found) >= n:
            return found[:n]
        candidates *= 2


def _rate(explain: Callable[[np.ndarray], Any], x: np.ndarray, calls: int) -> tuple[float, float]:
    """Alerts per second of ``explain(x)``, wall clock and process CPU time: the best of ``calls`` calls."""
    wall = cpu = float("inf")
    for _ in range(calls):
        started, started_cpu = time.perf_counter(), time.process_time()
        explain(x)
        wall, cpu = min(wall, time.perf_counter() - started), min(cpu, time.process_time() - started_cpu)
    return len(x) / wall, len(x) / max(cpu, 1e-9)


def _one_forward_ms(model: torch.nn.Module, row: np.ndarray, calls: int = 200) -> float:
    """Median milliseconds of one forward of the model on one row (no gradient)."""
    x = torch.as_tensor(row[None])
    times = []
    with torch.no_grad():
        for _ in range(calls):
            started = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def _single(explain_one: Explain, model: torch.nn.Module, x: np.ndarray) -> tuple[float, float, float]:
    """Mean forward calls, median wall and median CPU milliseconds of explaining each row of ``x`` alone."""
    counts, times, cpu = [], [], []
    for row in x:
        with ForwardCounter(model) as counter:
            started, started_cpu = time.perf_counter(), time.process_time()
            explain_one(row)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        counts.append(counter.calls)
    return float(np.mean(counts)), 1e3 * statistics.median(times), 1e3 * statistics.median(cpu)


def _explainers(det: Detector, k: int) -> dict[str, tuple[Explain, Explain]]:
    """name -> (explain a batch, explain one row) of ours (autoencoder, score only) and of the residual."""
    ours = create("tabular", model=det.model, threshold=det.adapter.threshold, normal=det.normal, k=k)
    width = det.design.width
    blind = create(
        "tabular",
        model=ScoreAdapter(_score_only(det.model, width), ours.adapter.threshold, sample_shape=(width,)),
        normal=det.normal,
        k=k,
    )
    residual = baseline_explainers(det.adapter, k, normal=det.normal)["residual"]
    return {
        "deepaid (autoencoder)": (ours.interpret_batch, ours.interpret),
        "deepaid (score only)": (blind.interpret_batch, blind.interpret),
        "residual": (lambda rows: residual(rows, 0), lambda row: residual(row[None], 0)),
    }


def speed_notes(
    hard_det: Detector, wide_det: Detector | None = None, *, seed: int = 0, alerts: int = 10_000, quiet: bool = False
) -> list[str]:
    """The speed figures of ``deepaid bench search`` as report notes (see the module docstring)."""
    k = hard_det.design.planted
    x = hard_alerts(hard_det, max(alerts, BATCH, SINGLE_ALERTS), seed)
    threads = torch.get_num_threads()
    notes = []
    methods = _explainers(hard_det, k)
    for name, (explain, _) in progress(methods.items(), desc="speed", quiet=quiet):
        explain(x[:4])  # first-call costs are not throughput
        small, small_cpu = _rate(explain, x[:BATCH], BATCH_CALLS)
        small_load = load()
        big, big_cpu = _rate(explain, x[:alerts], 1)
        notes.append(
            f"speed {hard_det.design.name} hard (1.0-1.2x thr) K={k} {name}, torch threads={threads}: "
            f"batch of {BATCH} {small:,.0f} alerts/s = {1e3 / small:.3f} ms/alert (CPU time {1e3 / small_cpu:.3f}; "
            f"{small_load}); {alerts:,} alerts {big:,.0f}/s (per CPU second {big_cpu:,.0f}; {load()})"
        )
    notes.extend(_single_notes(hard_det, x, k, threads))
    if wide_det is not None:  # a width-100 autoencoder at the preset's default K (sqrt(D))
        notes.extend(_single_notes(wide_det, wide_det.candidates["hard"][0], 10, threads))
    return notes


def _single_notes(det: Detector, x: np.ndarray, k: int, threads: int) -> list[str]:
    """One alert at a time: forward calls, ms and forwards-of-one-row of ours and of the residual."""
    rows = x[:SINGLE_ALERTS]
    forward = _one_forward_ms(det.model, rows[0])
    notes = []
    for name, (_, one) in _explainers(det, k).items():
        one(rows[0])
        calls, ms, cpu = _single(one, det.model, rows)
        notes.append(
            f"single alert {det.design.name} D={det.design.width} K={k} {name}, torch threads={threads}: "
            f"{calls:.1f} forward calls, {ms:.2f} ms median of {len(rows)} (CPU time {cpu:.2f}) = {ms / forward:.0f} "
            f"forwards of one row ({forward:.3f} ms; {load()})"
        )
    return notes


def report_notes(detectors: Sequence[Detector], *, seed: int, alerts: int, quiet: bool) -> list[str]:
    """``speed_notes`` on the family's m60 detector (hard alerts) and its m100 one (a width-100 autoencoder)."""
    by_name = {det.design.name: det for det in detectors}
    hard = by_name.get("m60", detectors[min(1, len(detectors) - 1)])
    return speed_notes(hard, by_name.get("m100"), seed=seed, alerts=alerts, quiet=quiet)
