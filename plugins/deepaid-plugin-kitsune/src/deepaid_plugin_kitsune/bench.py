"""``deepaid bench kitsune``: DeepAID against the baselines on KitNET alerts with planted causes.

KitNET is trained on synthetic AfterImage-shaped traffic rows; the alerts are its detected
floods, exfiltrations and scans, each with the handful of features that were changed. Every
method works in KitNET's own min-max units (the space KitNET itself reads features in), so
no method is helped or hurt by features measured in bytes^2 next to seconds.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import torch

from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.kitnet import KitNET, fit_kitnet
from deepaid_plugin_kitsune.preset import KitsuneInterpreter, kitsune_interpreter
from deepaid_plugin_kitsune.synthetic import SyntheticTraffic, traffic_features
from deepaid_sdk.bench.case import BenchmarkCase
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.cache import CACHE_DIR, cache_key, cache_path, cached
from deepaid_sdk.checks import check_device
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.results import InterpretationBatch

K = 5
N_NORMAL = 20_000
TRAIN: dict[str, Any] = {"max_group": 10, "epochs": 10, "lr": 1e-2, "percentile": 99.0}
CACHE = CACHE_DIR


def cached_kitnet(
    data: SyntheticTraffic, *, seed: int, device: str = "cpu", cache: pathlib.Path | None = CACHE
) -> KitNET:
    """KitNET trained on ``data.normal``, reused from ``cache`` when the same data and settings were seen."""
    path = (
        None
        if cache is None
        else cache_path("kitsune-kitnet", cache_key(data.normal, options={**TRAIN, "seed": seed}), cache)
    )
    model, _ = cached(
        path,
        lambda: fit_kitnet(data.normal, seed=seed, device=device, **TRAIN),
        lambda m, p: m.save(p),
        lambda p: KitNET.load(p, map_location=device),
    )
    return model


def alerts_of(model: KitNET, data: SyntheticTraffic, n: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The first ``n`` anomalies KitNET raises an alert on, their truth masks and kinds."""
    adapter = KitNETAdapter(model)
    with torch.no_grad():
        alert = (~adapter.is_normal(adapter.prepare(data.anomalies))).cpu().numpy()
    idx = np.flatnonzero(alert)[:n]
    return data.anomalies[idx], data.truth[idx], tuple(data.kinds[i] for i in idx)


def _ours(interp: KitsuneInterpreter) -> Any:
    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        del seed  # the search is deterministic (no start noise by default)
        return Interpreter.interpret_batch(interp, anomalies)  # scaled units in and out

    return explain


def kitsune_case(
    n: int | None = None, seed: int = 0, device: str = "cpu", cache: pathlib.Path | None = CACHE
) -> BenchmarkCase:
    """The benchmark case: ``n`` (default 300) KitNET alerts in scaled units, planted truth, all explainers."""
    n = n or 300
    check_device(device)
    data = traffic_features(N_NORMAL, int(n * 1.6) + 20, seed=seed)
    model = cached_kitnet(data, seed=seed, device=device, cache=cache)
    raw, truth, kinds = alerts_of(model, data, n)
    interp = kitsune_interpreter(model, k=K, budget="features")  # flip@K counts features, like the baselines
    adapter = interp.adapter  # KitNET in scaled units
    assert isinstance(adapter, KitNETAdapter)
    with torch.no_grad():
        anomalies = adapter.to_space(adapter.prepare(raw)).cpu().numpy()
        normal = adapter.to_space(adapter.prepare(data.normal[:2000])).cpu().numpy()

    def is_normal(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return adapter.is_normal(adapter.prepare(x)).cpu().numpy()

    explainers: dict[str, Any] = {"deepaid": _ours(interp)}
    try:
        from deepaid_sdk.bench.compare import baseline_explainers
    except ImportError:  # pragma: no cover - depends on the core version
        pass
    else:
        box = [c for c in interp.constraints if c.name == "box"]  # the same valid domain for every method
        explainers.update(baseline_explainers(adapter, K, normal=normal, kind="continuous", constraints=box))
    counts = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
    return BenchmarkCase(
        name="kitsune",
        anomalies=anomalies.astype(np.float32),
        k=K,
        explainers=explainers,
        is_normal=is_normal,
        truth=truth,
        setup={
            "device": device,
            "seed": seed,
            "data": f"synthetic AfterImage rows, {counts}",
            "detector": f"KitNET {len(model.groups)} AEs (m={TRAIN['max_group']})",
            "units": "KitNET min-max",
            "threshold": round(adapter.threshold, 5),
        },
    )


def run(n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None) -> BenchmarkReport:
    """DeepAID vs every continuous baseline on KitNET alerts (default 300): flip@5, recall@5, ..."""
    from deepaid_sdk.bench.compare import compare

    return compare(kitsune_case(n, seed, device), out)
