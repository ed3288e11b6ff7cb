"""``deepaid bench kitsune``: DeepAID against the baselines on KitNET alerts with planted causes.

KitNET is trained on synthetic AfterImage-shaped traffic rows; the alerts are its detected
floods, exfiltrations and scans, each with the handful of features that were changed. Every
method works in KitNET's own min-max units (the space KitNET itself reads features in), so
no method is helped or hurt by features measured in bytes^2 next to seconds.
"""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
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
    return _case_parts(n, seed, device, cache)[0]


def _case_parts(
    n: int | None, seed: int, device: str, cache: pathlib.Path | None
) -> tuple[BenchmarkCase, KitNET, np.ndarray]:
    """The case, its KitNET and 2,000 normal rows in scaled units."""
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
    case = BenchmarkCase(
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
    return case, model, normal


#: Budgets of the stability columns (the comparison itself runs at ``K``).
STABILITY_KS = (5, 10, 20)


def stability_notes(model: KitNET, case: BenchmarkCase, normal: np.ndarray, *, seed: int = 0) -> list[str]:
    """Stability under Gaussian noise (std 0.01 and 0.001 in KitNET's min-max units, kept inside the
    AfterImage bounds) at K = 5, 10, 20 and robustness under the residual attack (+-0.03) at ``K``:
    ours beside the residual, same alerts."""
    from deepaid_sdk.bench.compare import baseline_explainers
    from deepaid_sdk.bench.stability import robustness_rows, stability_rows, tables

    base = kitsune_interpreter(model, k=K)
    adapter = base.adapter
    box = [c for c in base.constraints if c.name == "box"]

    def explainers(k: int) -> dict[str, Any]:
        interp = base if k == K else kitsune_interpreter(model, k=k)
        residual = baseline_explainers(adapter, k, normal=normal, kind="continuous", constraints=box)["residual"]
        return {
            "deepaid": lambda x: Interpreter.interpret_batch(interp, x),
            "residual": lambda x: residual(x, 0),
        }

    x = case.anomalies
    stable = stability_rows(adapter, explainers, x, STABILITY_KS, seed=seed, valid=box)
    robust = robustness_rows(adapter, explainers(K), x[:128], K, seed=seed, valid=box)
    return tables(stable, robust, "kitsune")


def run(
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    out: pathlib.Path | None = None,
    pcap: str | pathlib.Path | None = None,
    labels: str | pathlib.Path | None = None,
) -> BenchmarkReport:
    """DeepAID vs every continuous baseline on KitNET alerts (default 300): flip@5, recall@5, ...,
    then stability under noise at K = 5, 10, 20 and robustness under attack, ours beside the residual.

    With ``pcap`` and ``labels``: the same preset on a real labelled capture (``pcap_bench``).
    """
    from deepaid_sdk.bench.compare import compare

    if pcap is not None or labels is not None:
        from deepaid_plugin_kitsune.pcap_bench import run as run_pcap

        return run_pcap(n, seed, device, out, pcap=pcap, labels=labels)

    case, model, normal = _case_parts(n, seed, device, CACHE)
    report = compare(case, out)
    return attrs.evolve(report, notes=(*report.notes, *stability_notes(model, case, normal, seed=seed)))
