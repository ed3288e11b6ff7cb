"""``deepaid bench pyod``: explaining IsolationForest, ECOD and PyOD's AutoEncoder, ours against KernelSHAP and LIME.

Per design of ``deepaid_plugin_tabular.synthetic`` (blob K=10, manifold K=5) and detector
(sklearn ``IsolationForest``, PyOD ``ECOD``, PyOD ``AutoEncoder``; every threshold at the 99th
percentile of the normal rows' scores), the detected anomalies are explained by:

- ``blackbox``: the ``tabular`` preset with ``search="blackbox"`` (target: the 0.9 quantile of the
  normal scores, the rule of ``deepaid_sdk.target``); ``blackbox-q25``: the same with
  ``target=0.25`` (the lower quartile);
- ``gradient``: the same preset's gradient search, where the score has a gradient (AutoEncoder);
- ``kernel_shap`` and ``lime``: the baselines package's searches on the same adapter (same
  score), top-K features by |attribution| set to the same reference values (the
  reconstruction where the adapter has one, else the normal rows' median).

A last note gives the batched throughput of ``blackbox`` on 10,000 IsolationForest alerts
(blob, D=100, K=10), and another the ``blackbox_budget`` figures (IsolationForest on 20 correlated
features, 3 planted, K = 3, 4, 6, beside the nearest-normal baseline).
Run with ``OMP_NUM_THREADS=1``: ``deepaid bench pyod``.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np
import torch

from deepaid_plugin_pyod.adapters import pyod_adapter
from deepaid_plugin_tabular import synthetic
from deepaid_plugin_tabular.preset import tabular_interpreter
from deepaid_sdk.bench import blackbox_budget
from deepaid_sdk.bench.case import BenchmarkCase, Explainer
from deepaid_sdk.bench.compare import baseline_explainers, compare
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.evaluation import precision_recall_at_k
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.model.foreign import SklearnAdapter
from deepaid_sdk.progress import progress
from deepaid_sdk.results import InterpretationBatch

#: Per design: K (as in ``deepaid bench tabular``).
DESIGNS: dict[str, int] = {"blob": 10, "manifold": 5}
DETECTORS = ("iforest", "ecod", "autoencoder")
#: Baselines compared (registered by contrib/deepaid-baselines).
BASELINES = ("kernel_shap", "lime")
DEFAULT_N = 50
#: Planted anomalies drawn per alert wanted, at most.
GENERATED = 50
THROUGHPUT_N = 10_000
PERCENTILE = 99.0


def fit_detector(name: str, normal: np.ndarray, seed: int = 0) -> Any:
    """A detector fitted on ``normal`` rows: sklearn IsolationForest, PyOD ECOD or AutoEncoder."""
    if name == "iforest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=100, random_state=seed).fit(normal)
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD(contamination=0.01).fit(normal)
    if name == "autoencoder":
        from pyod.models.auto_encoder import AutoEncoder

        torch.manual_seed(seed)
        return AutoEncoder(
            hidden_neuron_list=[64, 16],
            epoch_num=20,
            batch_size=64,
            dropout_rate=0.0,
            batch_norm=False,
            contamination=0.01,
            verbose=0,
            random_state=seed,
        ).fit(normal)
    raise ValueError(f"detector: expected one of {DETECTORS}; got {name!r}")


def adapter_for(name: str, model: Any, normal: np.ndarray) -> ModelAdapter:
    """The detector's adapter, its threshold at the 99th percentile of the normal rows' scores."""
    adapter = SklearnAdapter(model) if name == "iforest" else pyod_adapter(model)
    adapter.calibrate(normal, PERCENTILE)
    return adapter


def _ours(interp: Interpreter) -> Explainer:
    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:  # both searches are deterministic
        return interp.interpret_batch(anomalies)

    return explain


def build_case(design: str, detector: str, *, n: int = DEFAULT_N, seed: int = 0) -> BenchmarkCase:
    """The ``<design>-<detector>`` case: detected anomalies, planted truth, ours and the baselines."""
    k = DESIGNS[design]
    # Some detectors catch few manifold anomalies (IsolationForest: ~2%): draw up to 50 x n
    # planted anomalies and keep the first n the detector raises an alert on.
    table = synthetic.make_table(design, n_anomalies=GENERATED * n, seed=seed)
    model = fit_detector(detector, table.normal, seed)
    adapter = adapter_for(detector, model, table.normal)
    alerts = (~adapter.is_normal(adapter.prepare(table.anomalies))).cpu().numpy()
    if not alerts.any():
        raise ValueError(f"{design}-{detector}: the detector raised no alert on {GENERATED * n} anomalies")
    drawn = int(np.flatnonzero(alerts)[:n][-1]) + 1
    alerts[drawn:] = False
    explainers: dict[str, Explainer] = {
        "blackbox": _ours(tabular_interpreter(adapter, normal=table.normal, k=k, search="blackbox", seed=seed)),
        # A stricter typical target (the normal scores' lower quartile instead of the 0.9 quantile).
        "blackbox-q25": _ours(
            tabular_interpreter(
                adapter, normal=table.normal, k=k, search="blackbox", seed=seed, search_options={"target": 0.25}
            )
        ),
    }
    if detector == "autoencoder":
        explainers["gradient"] = _ours(
            tabular_interpreter(adapter, normal=table.normal, k=k, search="gradient", seed=seed)
        )
    found = baseline_explainers(adapter, k, normal=table.normal, kind="continuous")
    explainers.update({name: found[name] for name in BASELINES if name in found})

    def is_normal(rows: np.ndarray) -> np.ndarray:
        return adapter.is_normal(adapter.prepare(rows, "rows")).cpu().numpy()

    return BenchmarkCase(
        name=f"{design}-{detector}",
        anomalies=table.anomalies[alerts],
        k=k,
        explainers=explainers,
        is_normal=is_normal,
        truth=table.truth[alerts],
        setup={
            "seed": seed,
            "detected": f"{int(alerts.sum())}/{drawn}",
            "data": f"{design}: {table.width} features, {table.config['shifted']} shifted",
            "detector": type(model).__name__,
            "threshold": round(adapter.threshold, 6),
        },
    )


def throughput(*, n: int = THROUGHPUT_N, seed: int = 0) -> tuple[float, InterpretationBatch, np.ndarray, int]:
    """Alerts per second of one ``interpret_batch`` call of the blackbox search on ``n`` IsolationForest alerts."""
    table = synthetic.make_table("blob", n_anomalies=int(n * 1.25), seed=seed)
    model = fit_detector("iforest", table.normal, seed)
    adapter = adapter_for("iforest", model, table.normal)
    interp = tabular_interpreter(adapter, normal=table.normal, k=DESIGNS["blob"], search="blackbox", seed=seed)
    alerts = (~adapter.is_normal(adapter.prepare(table.anomalies))).cpu().numpy()
    x, truth = table.anomalies[alerts][:n], table.truth[alerts][:n]
    interp.interpret_batch(x[:8])  # warm-up: first-call allocations
    started = time.perf_counter()
    batch = interp.interpret_batch(x)
    return len(batch) / (time.perf_counter() - started), batch, truth, table.width


def run(
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    out: pathlib.Path | None = None,
    throughput_n: int = THROUGHPUT_N,
) -> BenchmarkReport:
    """Blob and manifold cases for IsolationForest, ECOD and AutoEncoder (``n`` alerts each, default 50)."""
    if device != "cpu":
        raise ValueError(f"device: the pyod benchmark runs on the CPU (sklearn and PyOD detectors); got {device!r}")
    n = DEFAULT_N if n is None else int(n)
    cases = [
        build_case(design, detector, n=n, seed=seed)
        for design, detector in progress([(d, m) for d in DESIGNS for m in DETECTORS], desc="fit detectors")
    ]
    report = compare(cases, out, seeds=2)
    rate, batch, truth, width = throughput(n=throughput_n, seed=seed)
    recall = precision_recall_at_k(batch, truth, DESIGNS["blob"])[1]
    note = (
        f"batched throughput (blackbox, one interpret_batch call on {len(batch)} IsolationForest blob alerts, "
        f"D={width}, K={DESIGNS['blob']}, torch threads={torch.get_num_threads()}): {rate:,.0f} alerts/s; "
        f"recall@10 {recall:.4f}, flip rate {batch.flip_rate:.4f}, mean steps {batch.steps.mean():.1f}"
    )
    budget = blackbox_budget.note(blackbox_budget.forest_rows(seed=seed))  # k as a budget, beside nearest_normal
    return BenchmarkReport(
        name="pyod", columns=report.columns, rows=report.rows, setup=report.setup, notes=(*report.notes, note, budget)
    )
