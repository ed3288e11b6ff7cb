"""``deepaid bench tabular``: our search against the continuous baselines on blob and manifold data.

Both cases: a small MLP autoencoder trained on synthetic normal rows (cached under
``.deepaid-cache/``), threshold at the 99th percentile of its normal scores, the detected
anomalies explained by ``deepaid`` (the ``tabular`` preset) and every registered continuous
baseline, all with the same K. A last note gives the batched throughput of ours on a larger
batch (speed on 50 alerts is mostly fixed cost).
"""

from __future__ import annotations

import copy
import pathlib
import time
from typing import Any

import attrs
import numpy as np
import torch

from deepaid_plugin_tabular import synthetic
from deepaid_plugin_tabular.preset import TabularInterpreter, tabular_interpreter
from deepaid_sdk.bench.case import BenchmarkCase, Explainer
from deepaid_sdk.bench.compare import baseline_explainers, compare
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.checks import check_device
from deepaid_sdk.evaluation import precision_recall_at_k
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search.gradient import GradientSearch

#: Per design: K, and how its autoencoder is trained.
CASES: dict[str, dict[str, Any]] = {
    "blob": {"k": 10, "train": synthetic.TRAINING["blob"]},
    "manifold": {"k": 5, "train": synthetic.TRAINING["manifold"]},
}
DEFAULT_N = 50
THROUGHPUT_N = 2000


def detector(
    design: str, *, n_anomalies: int, seed: int = 0, device: str = "cpu", cache_dir: pathlib.Path | str | None = None
) -> tuple[synthetic.SyntheticTable, torch.nn.Module]:
    """The synthetic table of ``design`` and its trained (cached) autoencoder on ``device``."""
    if design not in CASES:
        raise ValueError(f"design: expected one of {sorted(CASES)}; got {design!r}")
    table = synthetic.make_table(design, n_anomalies=n_anomalies, seed=seed)
    model = synthetic.cached_autoencoder(
        table.normal, name=f"tabular-{design}", cache_dir=cache_dir, seed=seed, **CASES[design]["train"]
    )
    return table, model.to(device)


def _ours(interp: TabularInterpreter) -> Explainer:
    """``explain(anomalies, seed)`` with the preset's search re-seeded (its start noise differs by seed)."""

    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        search = interp.search
        if isinstance(search, GradientSearch):
            search = copy.copy(search)
            search.seed = seed
        return attrs.evolve(interp, search=search).interpret_batch(anomalies)

    return explain


def build_case(
    design: str,
    *,
    n: int = DEFAULT_N,
    seed: int = 0,
    device: str = "cpu",
    cache_dir: pathlib.Path | str | None = None,
    baselines: bool = True,
) -> BenchmarkCase:
    """The ``tabular-<design>`` case: detected anomalies, planted truth, ours and the baselines."""
    k = CASES[design]["k"]
    table, model = detector(design, n_anomalies=n, seed=seed, device=device, cache_dir=cache_dir)
    interp = tabular_interpreter(
        model, normal=table.normal, percentile=99.0, k=k, seed=seed, features=table.feature_names
    )
    adapter = interp.adapter
    x = adapter.prepare(table.anomalies, "anomalies")
    alerts = (~adapter.is_normal(x)).cpu().numpy()
    if not alerts.any():
        raise ValueError(f"tabular-{design}: the detector raised no alert on {n} anomalies")
    explainers: dict[str, Explainer] = {"deepaid": _ours(interp)}
    if baselines:
        found = baseline_explainers(adapter, k, normal=table.normal, kind="continuous")
        explainers.update({name: fn for name, fn in found.items() if name != "deepaid"})

    def is_normal(rows: np.ndarray) -> np.ndarray:
        return adapter.is_normal(adapter.prepare(rows, "rows")).cpu().numpy()

    return BenchmarkCase(
        name=f"tabular-{design}",
        anomalies=table.anomalies[alerts],
        k=k,
        explainers=explainers,
        is_normal=is_normal,
        truth=table.truth[alerts],
        setup={
            "device": device,
            "seed": seed,
            "detected": f"{int(alerts.sum())}/{n}",
            "data": f"{design}: {table.width} features, {table.config['shifted']} shifted",
            "detector": f"MLP AE {table.width}-64-16-64-{table.width}"
            + (" (denoising)" if CASES[design]["train"].get("denoise") else ""),
            "threshold": round(adapter.threshold, 6),
        },
    )


def throughput(
    design: str = "blob",
    *,
    n: int = THROUGHPUT_N,
    seed: int = 0,
    device: str = "cpu",
    cache_dir: pathlib.Path | str | None = None,
) -> tuple[float, InterpretationBatch, np.ndarray]:
    """Anomalies per second of one batched ``interpret_batch`` call on ``n`` anomalies, its result and truth."""
    table, model = detector(design, n_anomalies=n, seed=seed, device=device, cache_dir=cache_dir)
    interp = tabular_interpreter(model, normal=table.normal, k=CASES[design]["k"], seed=seed)
    alerts = (~interp.adapter.is_normal(interp.adapter.prepare(table.anomalies, "anomalies"))).cpu().numpy()
    x = table.anomalies[alerts]
    interp.interpret_batch(x[:8])  # warm-up: first-call allocations
    started = time.perf_counter()
    batch = interp.interpret_batch(x)
    seconds = time.perf_counter() - started
    return len(batch) / seconds, batch, table.truth[alerts]


def run(n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None) -> BenchmarkReport:
    """Blob (K=10) and manifold (K=5) cases, ours vs the continuous baselines (default 50 anomalies each)."""
    check_device(device)
    n = DEFAULT_N if n is None else int(n)
    cases = [build_case(design, n=n, seed=seed, device=device) for design in CASES]
    report = compare(cases, out)
    rate, batch, truth = throughput("blob", seed=seed, device=device)
    recall = precision_recall_at_k(batch, truth, CASES["blob"]["k"])[1]
    note = (
        f"batched throughput (deepaid, one interpret_batch call on {len(batch)} blob alerts, K=10, "
        f"torch threads={torch.get_num_threads()}): {rate:,.0f} anomalies/s; recall@10 {recall:.4f}, "
        f"flip rate {batch.flip_rate:.4f}"
    )
    return BenchmarkReport(
        name="tabular", columns=report.columns, rows=report.rows, setup=report.setup, notes=(*report.notes, note)
    )
