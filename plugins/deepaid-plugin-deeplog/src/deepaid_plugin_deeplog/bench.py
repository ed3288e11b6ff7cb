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
import time
from typing import Any, Callable

import numpy as np
import torch

import deepaid_sdk
from deepaid_sdk import InterpretationBatch
from deepaid_sdk.bench.case import BenchmarkCase, Explainer
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.checks import check_device
from deepaid_sdk.evaluation import throughput
from deepaid_sdk.search import build_batch

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.detection import detect, session_metrics
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS, Experiment, ExperimentConfig, run_experiment
from deepaid_plugin_deeplog.search import key_gradient

#: Attribution methods of deepaid-baselines used as baselines (name in ``attribute``).
ATTRIBUTION_BASELINES = ("integrated_gradients", "saliency", "input_x_gradient", "deeplift")
#: Keys verified per alert at the attributed position (the same budget as the deeplog search).
VERIFIED_KEYS = 8


def _allowed(adapter: DeepLogAdapter) -> torch.Tensor:
    allowed = torch.ones(adapter.num_keys, dtype=torch.bool, device=adapter.device)
    allowed[adapter.reserved()] = False
    return allowed


def next_key_explainer(adapter: DeepLogAdapter) -> Explainer:
    """The trivial reference: the next key replaced by the model's top guess."""

    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        started = time.perf_counter()
        x = adapter.prepare(anomalies, "anomalies")
        with torch.no_grad():
            logits = adapter.logits(adapter.one_hot(x[:, : adapter.window]))
            guess = logits.masked_fill(~_allowed(adapter)[None], float("-inf")).argmax(dim=1)
        refs = x.clone()
        refs[:, adapter.window] = guess
        return build_batch(adapter, x, refs, steps=np.ones(len(x), dtype=np.int64), started=started,
                           method="next-key-top-guess", params={"reference": "model's top next-key guess"})

    return explain


def attribution_explainer(adapter: DeepLogAdapter, method: str, attribute: Callable[..., torch.Tensor]) -> Explainer:
    """Top-|attribution| window position, replaced by the best verified key the gradient favours."""

    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        started = time.perf_counter()
        x = adapter.prepare(anomalies, "anomalies")
        b, w, c = x.shape[0], adapter.window, adapter.num_keys
        nxt = x[:, w]

        def surprise(onehot: torch.Tensor) -> torch.Tensor:
            # Captum may stack several scaled copies of the batch: the next keys repeat with them.
            keys = nxt.repeat(onehot.shape[0] // b) if onehot.shape[0] != b else nxt
            return -adapter.logits(onehot).log_softmax(dim=1).gather(1, keys[:, None]).squeeze(1)

        onehot = adapter.one_hot(x[:, :w])
        attr = attribute(method, surprise, onehot, None, module=adapter.model, seed=seed, chunk=max(b, 1))
        importance = attr.abs().sum(dim=2)
        if adapter.pad_key is not None:
            importance = importance.masked_fill(x[:, :w] == adapter.pad_key, float("-inf"))
        pos = importance.argmax(dim=1)
        grad = key_gradient(adapter, x).grad
        rows = torch.arange(b, device=x.device)
        gain = grad[rows, pos] - grad[rows, pos].gather(1, x[rows, pos][:, None])
        gain = gain.masked_fill(~_allowed(adapter)[None], float("-inf")).scatter(1, x[rows, pos][:, None],
                                                                                  float("-inf"))
        keys = gain.topk(min(VERIFIED_KEYS, c - 1), dim=1).indices
        cand = x[:, None, :].repeat(1, keys.shape[1], 1)
        cand[rows[:, None], torch.arange(keys.shape[1], device=x.device)[None], pos[:, None]] = keys
        with torch.no_grad():
            scores = adapter.score(cand.reshape(-1, w + 1)).reshape(b, -1)
        valid = torch.isfinite(torch.gather(gain, 1, keys))
        scores = scores.masked_fill(~valid, float("inf"))
        accepted = scores <= adapter.threshold
        # The first accepted key in gradient order, else the lowest score.
        first = torch.where(accepted.any(dim=1), accepted.float().argmax(dim=1), scores.argmin(dim=1))
        refs = cand[rows, first]
        return build_batch(adapter, x, refs, steps=np.ones(b, dtype=np.int64), started=started,
                           method=f"{method}+top-position",
                           params={"attribution": method, "target": "-log p(next key)", "verified_keys": VERIFIED_KEYS})

    return explain


def attribution_explainers(adapter: DeepLogAdapter) -> dict[str, Explainer]:
    """The attribution baselines by name (``<method>+top-position``); none without deepaid-baselines."""
    try:
        from deepaid_baselines.attribution import attribute
    except ImportError:
        return {}
    return {f"{method}+top-position": attribution_explainer(adapter, method, attribute)
            for method in ATTRIBUTION_BASELINES}


def deepaid_explainer(interp: Any) -> Explainer:
    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        x = np.asarray(anomalies)
        return interp.interpret_batch(x[:, :-1], next_keys=x[:, -1])

    return explain


def perturb_oldest_key(adapter: DeepLogAdapter) -> Callable[[np.ndarray, int], np.ndarray]:
    """Robustness noise for key sequences: the oldest window key replaced by a random (non-reserved) key."""

    def perturb(x: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        allowed = np.flatnonzero(_allowed(adapter).cpu().numpy())
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
    explainers: dict[str, Explainer] = {"deepaid": deepaid_explainer(interp),
                                        "next-key-top-guess": next_key_explainer(adapter),
                                        **attribution_explainers(adapter)}

    def is_normal(seqs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return adapter.is_normal(adapter.prepare(seqs, "seqs")).cpu().numpy()

    cfg = ex.config
    return BenchmarkCase(
        name=name, anomalies=ex.test.sequences[chosen], k=1, explainers=explainers, is_normal=is_normal,
        truth=ex.truth[chosen], truth_metric="position_accuracy", perturb=perturb_oldest_key(adapter),
        setup={"seed": cfg.seed, "device": str(adapter.device), "g": num_candidates, "window": cfg.window,
               "detector": f"DeepLog LSTM {cfg.layers}x{cfg.hidden}",
               "attribution_baselines": ("deepaid-baselines" if any(m.endswith("+top-position") for m in explainers)
                                         else "not installed")},
    )


def run(n: int | None = None, seed: int = 0, device: str = "cpu",
                  out: pathlib.Path | None = None) -> BenchmarkReport:
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
        first = np.asarray([c[0] if len(c) else -1 for c in result.changed])
        hit = case.truth[np.arange(len(first)), first] & (first >= 0)
        at_next = case.truth[:, ex.config.window]
        notes.append(f"{case.name}: detection on {ex.config.n_test} test sessions P {m.precision:.3f} "
                     f"R {m.recall:.3f} F1 {m.f1:.3f}; deepaid position acc. {hit[at_next].mean():.3f} on "
                     f"{int(at_next.sum())} alerts planted at the next key, "
                     f"{hit[~at_next].mean() if (~at_next).any() else float('nan'):.3f} on "
                     f"{int((~at_next).sum())} planted inside the window")
    big = np.resize(cases[0].anomalies, (10_000, cases[0].anomalies.shape[1]))
    rate, _ = throughput(lambda: cases[0].explainers["deepaid"](big, 0), len(big), repeat=3)
    notes.append(f"deepaid throughput on 10,000 alerts (deeplog-g9 alerts repeated), best of 3: {rate:,.0f}/s "
                 f"with {torch.get_num_threads()} torch threads")
    # Whole sessions with a planted replace/insert/delete (issue 10): their own rows, one more column.
    from deepaid_plugin_deeplog.session_bench import session_rows

    session: list[tuple[Any, ...]] = []
    for g in (9, 5):
        rows, note = session_rows(ex, g, seed=seed, n=n)
        session += rows
        notes.append(note)
    notes.append("sessions-g<g>-<kind>: whole sessions with one planted edit; flip@K = every window of the edited "
                 "session normal, position acc./kind acc. of the main edit, changed = edits per session, "
                 "anomalies/s = sessions/s (deepaid_plugin_deeplog.session_bench)")
    return BenchmarkReport(name="deeplog", columns=(*report.columns, "kind acc."),
                           rows=tuple((*row, None) for row in report.rows) + tuple(session),
                           setup={**report.setup, "train sessions": ex.config.n_train,
                                  "test sessions": ex.config.n_test}, notes=tuple(notes))
