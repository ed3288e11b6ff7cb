"""``deepaid bench deeplog``: DeepAID against DeepLog baselines on synthetic workflow logs.

Alerts: the test windows DeepLog flags whose window or next key holds the planted change.
Explainers (each returns one reference per alert, verified by the model):

- ``deepaid``: the ``deeplog`` preset (saliency test, gradient candidates, verified, K = 1).
- ``next-key-top-guess``: the next key replaced by the model's top guess (the trivial reference).
- ``<method>+top-position``, for integrated gradients, saliency, input x gradient and DeepLift
  (``deepaid_baselines.attribution.attribute``): attribution of the surprise ``-log p(next key)``
  to the one-hot window; the position with the largest |attribution| is replaced by the key the
  gradient favours most among those the model accepts (the 8 best by gradient are verified).
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.detection import detect, session_metrics
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS, Experiment, ExperimentConfig, run_experiment
from deepaid_plugin_deeplog.session_bench import session_rows

# The window baselines live in ``window_baselines`` (``session_bench`` uses them too); their names
# stay importable from here.
from deepaid_plugin_deeplog.window_baselines import (  # noqa: F401
    ATTRIBUTION_BASELINES,
    VERIFIED_KEYS,
    allowed_keys,
    attribution_explainer,
    attribution_explainers,
    next_key_explainer,
)
from deepaid_sdk import InterpretationBatch
from deepaid_sdk.bench.case import BenchmarkCase, Explainer
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.checks import check_device
from deepaid_sdk.evaluation import throughput


def deepaid_explainer(interp: Any) -> Explainer:
    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        x = np.asarray(anomalies)
        return interp.interpret_batch(x[:, :-1], next_keys=x[:, -1])

    return explain


def perturb_oldest_key(adapter: DeepLogAdapter) -> Callable[[np.ndarray, int], np.ndarray]:
    """Robustness noise for key sequences: the oldest window key replaced by a random (non-reserved) key."""

    def perturb(x: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        allowed = np.flatnonzero(allowed_keys(adapter).cpu().numpy())
        out = np.array(x, copy=True)
        new = rng.choice(allowed, size=len(out))
        keep = out[:, 0] == adapter.pad_key if adapter.pad_key is not None else np.zeros(len(out), dtype=bool)
        out[:, 0] = np.where(keep, out[:, 0], new)
        return out

    return perturb


def build_case(ex: Experiment, num_candidates: int, n: int | None = None, name: str = "deeplog") -> BenchmarkCase:
    """The benchmark case for one experiment at top-g = ``num_candidates``."""
    adapter = DeepLogAdapter(ex.model, num_candidates=num_candidates, templates=ex.templates, **RESERVED_KEYS)
    flags = detect(adapter, ex.test.windows, ex.test.next_keys)
    chosen = np.flatnonzero(flags & ex.truth.any(axis=1))[:n]
    interp = deepaid_sdk.create("deeplog", model=adapter, k=1)
    explainers: dict[str, Explainer] = {
        "deepaid": deepaid_explainer(interp),
        "next-key-top-guess": next_key_explainer(adapter),
        **attribution_explainers(adapter),
    }

    def is_normal(seqs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return adapter.is_normal(adapter.prepare(seqs, "seqs")).cpu().numpy()

    cfg = ex.config
    return BenchmarkCase(
        name=name,
        anomalies=ex.test.sequences[chosen],
        k=1,
        explainers=explainers,
        is_normal=is_normal,
        truth=ex.truth[chosen],
        truth_metric="position_accuracy",
        perturb=perturb_oldest_key(adapter),
        setup={
            "seed": cfg.seed,
            "device": str(adapter.device),
            "g": num_candidates,
            "window": cfg.window,
            "detector": f"DeepLog LSTM {cfg.layers}x{cfg.hidden}",
            "attribution_baselines": (
                "deepaid-baselines" if any(m.endswith("+top-position") for m in explainers) else "not installed"
            ),
        },
    )


def run(n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None) -> BenchmarkReport:
    """DeepAID vs baselines on the synthetic logs at top-g 9 (DeepLog's default) and 5 (more window alerts)."""
    check_device(device)
    from deepaid_sdk.bench.compare import compare

    ex = run_experiment(ExperimentConfig(seed=seed), device=device)
    cases = [build_case(ex, 9, n, "deeplog-g9"), build_case(ex, 5, n, "deeplog-g5")]
    for case in cases:  # one-time set-up (autograd, allocator) is not counted in anyone's speed
        for explain in case.explainers.values():
            explain(case.anomalies[:8], 0)
    report = compare(cases, out)
    notes = list(report.notes)
    for case in cases:
        g = case.setup["g"]
        flags = detect(ex.model, ex.test.windows, ex.test.next_keys, num_candidates=g)
        m = session_metrics(flags, ex.test.session, ex.test_labels)
        result = case.explainers["deepaid"](case.anomalies, 0)
        assert case.truth is not None  # the deeplog cases carry planted truth
        first = np.asarray([c[0] if len(c) else -1 for c in result.changed])
        hit = case.truth[np.arange(len(first)), first] & (first >= 0)
        at_next = case.truth[:, ex.config.window]
        notes.append(
            f"{case.name}: detection on {ex.config.n_test} test sessions P {m.precision:.3f} "
            f"R {m.recall:.3f} F1 {m.f1:.3f}; deepaid position acc. {hit[at_next].mean():.3f} on "
            f"{int(at_next.sum())} alerts planted at the next key, "
            f"{hit[~at_next].mean() if (~at_next).any() else float('nan'):.3f} on "
            f"{int((~at_next).sum())} planted inside the window"
        )
    big = np.resize(cases[0].anomalies, (10_000, cases[0].anomalies.shape[1]))
    rate, _ = throughput(lambda: cases[0].explainers["deepaid"](big, 0), len(big), repeat=3)
    notes.append(
        f"deepaid throughput on 10,000 alerts (deeplog-g9 alerts repeated), best of 3: {rate:,.0f}/s "
        f"with {torch.get_num_threads()} torch threads"
    )
    # Whole sessions with a planted replace/insert/delete (issue 10): their own rows, one more column.
    session: list[tuple[Any, ...]] = []
    for g in (9, 5):
        rows, note = session_rows(ex, g, seed=seed, n=n)
        session += rows
        notes.append(note)
    notes.append(
        "sessions-g<g>-<kind>: whole sessions with one planted edit; flip@K = every window of the edited "
        "session normal, position acc./kind acc. of the main edit, changed = edits per session, "
        "anomalies/s = sessions/s (deepaid_plugin_deeplog.session_bench)"
    )
    return BenchmarkReport(
        name="deeplog",
        columns=(*report.columns, "kind acc."),
        rows=tuple((*row, None) for row in report.rows) + tuple(session),
        setup={**report.setup, "train sessions": ex.config.n_train, "test sessions": ex.config.n_test},
        notes=tuple(notes),
    )
