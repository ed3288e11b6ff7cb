"""Measure every explainer of a ``BenchmarkCase`` the same way, on the same alerts.

Per case and method: label-flip rate at K (the anomaly with the method's first K changed
features set to its reference values, judged by the case's detector), ground truth (recall@K,
or the share whose first changed position is a planted one), stability (Jaccard of the changed
sets across seeds), robustness (Jaccard under a small perturbation of the input), mean number
of changed features, and anomalies per second of the first run.

``baseline_explainers`` turns every registered baseline search into an explainer for a case.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import platform
import time
from typing import Any, Callable, Sequence, cast

import attrs
import numpy as np
import torch

from deepaid_sdk.bench.case import BenchmarkCase, Explainer
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.constraints import ConcisenessConstraint, Constraint
from deepaid_sdk.evaluation import conciseness, jaccard, precision_recall_at_k, stability
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.registry import registry
from deepaid_sdk.results import InterpretationBatch

#: Columns of the report; the truth column is named for the cases' truth metric.
METRICS = ("flip@K", "truth", "stability", "robustness", "changed", "anomalies/s")
_TRUTH_NAMES = {"recall": "recall@K", "position_accuracy": "position acc."}
#: Cell of a figure that was not measured (no ground truth, one seed, a failed method):
#: ``null`` in JSON, ``-`` in the table.
MISSING = None


def machine() -> str:
    """Platform, CPU count and torch version, as recorded in every report."""
    return f"{platform.platform()}, {os.cpu_count()} cpu, torch {torch.__version__}"


def _check_cases(cases: Any) -> list[BenchmarkCase]:
    items = [cases] if isinstance(cases, BenchmarkCase) else list(cases) if isinstance(cases, Sequence) else None
    if not items or not all(isinstance(c, BenchmarkCase) for c in items):
        raise TypeError(f"cases: expected a BenchmarkCase or a non-empty sequence of them; got {cases!r:.80}")
    names = [c.name for c in items]
    if len(set(names)) != len(names):
        raise ValueError(f"cases: names must differ; got {names}")
    for c in items:
        if not isinstance(c.anomalies, np.ndarray) or c.anomalies.ndim < 2 or len(c.anomalies) == 0:
            raise ValueError(f"case {c.name}: anomalies must be a non-empty array [N, ...]")
        if isinstance(c.k, bool) or not isinstance(c.k, (int, np.integer)) or c.k < 1:
            raise ValueError(f"case {c.name}: k must be a positive integer; got {c.k!r}")
        if c.truth_metric not in _TRUTH_NAMES:
            raise ValueError(
                f"case {c.name}: truth_metric must be one of {sorted(_TRUTH_NAMES)}; got {c.truth_metric!r}"
            )
        if c.truth is not None and np.asarray(c.truth).shape[0] != len(c.anomalies):
            raise ValueError(
                f"case {c.name}: truth has {np.asarray(c.truth).shape[0]} rows for {len(c.anomalies)} anomalies"
            )
        if not c.explainers:
            raise ValueError(f"case {c.name}: no explainers to compare")
    return items


def _run(case: BenchmarkCase, method: str, explain: Explainer, x: np.ndarray, seed: int) -> InterpretationBatch:
    result = explain(x, seed)
    if not isinstance(result, InterpretationBatch):
        raise TypeError(
            f"{case.name}/{method}: an explainer must return an InterpretationBatch; got {type(result).__name__}"
        )
    if result.anomalies.shape != x.shape:
        raise ValueError(f"{case.name}/{method}: results have shape {result.anomalies.shape}; the anomalies {x.shape}")
    return result


def _flat_index(changed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return changed if changed.ndim == 1 else np.ravel_multi_index(tuple(changed.T), shape)


def flip_at_k(case: BenchmarkCase, result: InterpretationBatch, k: int) -> float:
    """Share of anomalies the case's detector accepts once the first ``k`` changes are applied."""
    x = case.anomalies
    shape = x.shape[1:]
    mask = np.zeros((len(x), int(np.prod(shape))), dtype=bool)
    for i, changed in enumerate(result.changed):  # ragged index lists: result assembly only
        mask[i, _flat_index(changed, shape)[:k]] = True
    refs = np.asarray(result.references).reshape(mask.shape)
    patched = np.where(mask, refs, x.reshape(mask.shape)).astype(x.dtype).reshape(x.shape)
    verdict = np.asarray(case.is_normal(patched), dtype=bool).reshape(-1)
    if verdict.shape[0] != len(x):
        raise ValueError(f"case {case.name}: is_normal returned {verdict.shape[0]} verdicts for {len(x)} samples")
    return float(verdict.mean())


def position_accuracy(result: InterpretationBatch, truth: np.ndarray) -> float:
    """Share whose first changed position (first index axis) is a planted one; no change is a miss."""
    truth = np.asarray(truth, dtype=bool)
    planted = (
        cast(np.ndarray, truth.reshape(truth.shape[0], truth.shape[1], -1).any(axis=2)) if truth.ndim > 2 else truth
    )
    hits = [bool(planted[i, int(np.atleast_1d(c[0])[0])]) if len(c) else False for i, c in enumerate(result.changed)]
    return float(np.mean(hits))


def _truth_score(case: BenchmarkCase, result: InterpretationBatch, k: int) -> float | None:
    if case.truth is None:
        return None
    if case.truth_metric == "position_accuracy":
        return position_accuracy(result, case.truth)
    return precision_recall_at_k(result, np.asarray(case.truth, dtype=bool), k=k)[1]


def gaussian_perturb(x: np.ndarray, seed: int, noise: float = 0.01) -> np.ndarray:
    """``x`` plus seeded Gaussian noise of ``noise`` times each feature's std over ``x`` (1 where 0)."""
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    rng = np.random.default_rng(seed)
    return (x + noise * scale * rng.standard_normal(x.shape)).astype(x.dtype)


_WARM_UP = 4


def _measure(case: BenchmarkCase, method: str, explain: Explainer, seeds: int) -> tuple[list[Any], list[str]]:
    """The figures of one method on one case, and any notes about them."""
    x, k, notes = case.anomalies, int(case.k), []
    _run(case, method, explain, x[:_WARM_UP], 0)  # first-call costs (allocation, lazy set-up) are not throughput
    started = time.perf_counter()
    first = _run(case, method, explain, x, 0)
    seconds = time.perf_counter() - started
    flip = flip_at_k(case, first, k)
    truth = _truth_score(case, first, k)
    runs = [first] + [_run(case, method, explain, x, s) for s in range(1, seeds)]
    stable = stability(runs) if seeds > 1 else None
    noise_seed = int(case.setup.get("seed", 0))
    if case.perturb is not None:
        noisy = np.asarray(case.perturb(x, noise_seed))
    elif np.issubdtype(x.dtype, np.floating):
        noisy = gaussian_perturb(x, noise_seed)
    else:
        noisy = None
        notes.append(f"{case.name}/{method}: robustness not measured: integer anomalies and no case.perturb")
    robust = None
    if noisy is not None:
        if noisy.shape != x.shape:
            raise ValueError(f"case {case.name}: perturb returned shape {noisy.shape}; expected {x.shape}")
        robust = float(jaccard(first.changed_mask(), _run(case, method, explain, noisy, 0).changed_mask()).mean())
    speed = len(x) / seconds if seconds > 0 else float("inf")
    return [flip, truth, stable, robust, conciseness(first), speed], notes


def _rounded(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for name, v in zip(METRICS, values):
        if v is None:
            out.append(MISSING)
        elif name == "anomalies/s":
            out.append(round(float(v), 1) if v >= 10 else round(float(v), 3))
        elif name == "changed":
            out.append(round(float(v), 2))
        else:
            out.append(round(float(v), 4))
    return out


def _report_name(cases: list[BenchmarkCase]) -> str:
    if len(cases) == 1:
        return cases[0].name
    heads = {c.name.split("-")[0] for c in cases}
    return heads.pop() if len(heads) == 1 else "+".join(c.name for c in cases)


def _setup(cases: list[BenchmarkCase], seeds: int) -> dict[str, Any]:
    """Machine and seeds, then each case's device, N, K, seed and own setup; shared values once."""
    per_case = []
    for c in cases:
        own = {
            "device": c.setup.get("device", "cpu"),
            "n": int(len(c.anomalies)),
            "k": int(c.k),
            "seed": c.setup.get("seed", 0),
        }
        own.update({key: v for key, v in c.setup.items() if key not in own})
        per_case.append(own)
    setup: dict[str, Any] = {"machine": machine(), "seeds": seeds}
    if len(cases) == 1:
        return {**setup, "case": cases[0].name, **per_case[0]}
    keys = list(dict.fromkeys(key for own in per_case for key in own))
    for key in keys:
        values = [own.get(key) for own in per_case]
        if all(v == values[0] for v in values):
            setup[key] = values[0]
        else:
            setup.update({f"{key}[{c.name}]": v for c, v in zip(cases, values) if v is not None})
    return setup


def compare(
    cases: BenchmarkCase | Sequence[BenchmarkCase],
    out: pathlib.Path | None = None,
    *,
    seeds: int = 5,
) -> BenchmarkReport:
    """Run every explainer of every case on the same alerts and tabulate the same figures.

    :param cases: one case or several (one table, a ``case`` column tells them apart).
    :param out: folder for a PNG bar chart of the figures (``bench-<name>.png``), if matplotlib
        is installed; None for no chart.
    :param seeds: runs per method for stability (seeds ``0 .. seeds-1``); the first run's wall
        time gives anomalies/s.
    """
    items = _check_cases(cases)
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ValueError(f"seeds: expected a positive integer; got {seeds!r}")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a folder path or None; got {type(out).__name__}")
    metrics = {c.truth_metric for c in items if c.truth is not None}
    truth_col = " / ".join(_TRUTH_NAMES[m] for m in sorted(metrics)) if metrics else "recall@K"
    columns = ("case", "method", "flip@K", truth_col, "stability", "robustness", "changed", "anomalies/s")
    rows: list[tuple[Any, ...]] = []
    notes: list[str] = []
    for case in items:
        for method, explain in case.explainers.items():
            try:
                values, more = _measure(case, method, explain, int(seeds))
            except Exception as exc:  # one broken method must not hide the others' figures
                rows.append((case.name, method, *([MISSING] * len(METRICS))))
                notes.append(f"{case.name}/{method} FAILED: {type(exc).__name__}: {exc}")
                continue
            rows.append((case.name, method, *_rounded(values)))
            notes.extend(more)
    notes.append(
        f"flip@K: share of alerts the detector accepts with each method's first K changes applied; "
        f"stability over seeds 0-{int(seeds) - 1}; robustness under "
        + (
            "each case's perturbation"
            if all(c.perturb for c in items)
            else "the case's perturbation where given, else 1% Gaussian noise per feature"
            if any(c.perturb for c in items)
            else "1% Gaussian noise per feature"
        )
    )
    name = _report_name(items)
    report = BenchmarkReport(
        name=name, columns=columns, rows=tuple(rows), setup=_setup(items, int(seeds)), notes=tuple(notes)
    )
    if out is not None:
        report = attrs.evolve(report, notes=(*notes, plot_report(report, pathlib.Path(out) / f"bench-{name}.png")))
    return report


def plot_report(report: BenchmarkReport, path: pathlib.Path) -> str:
    """Write a bar chart per figure of ``report`` to ``path``; returns a note saying what was done."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "chart not written: matplotlib is not installed (pip install 'deepaid-sdk[plot]')"
    cases = list(dict.fromkeys(row[0] for row in report.rows))
    labels = [row[1] if len(cases) == 1 else f"{row[0]}/{row[1]}" for row in report.rows]
    figures = report.columns[2:]
    fig = Figure(figsize=(3.2 * len(figures), 0.35 * len(labels) + 1.8), layout="constrained")
    axes = fig.subplots(1, len(figures), sharey=True)
    positions = np.arange(len(labels))
    for j, (ax, title) in enumerate(zip(axes, figures)):
        values = [row[2 + j] for row in report.rows]
        heights = [float(v) if isinstance(v, (int, float)) else np.nan for v in values]
        colours = ["tab:blue" if row[1] == "deepaid" else "tab:gray" for row in report.rows]
        ax.barh(positions, heights, color=colours)
        ax.set_title(title, fontsize=9)
        if title == "anomalies/s" and any(h > 0 for h in heights if not np.isnan(h)):
            ax.set_xscale("log")
        elif title != "changed":
            ax.set_xlim(0, 1.05)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(positions, labels)
    axes[0].invert_yaxis()
    fig.suptitle(f"deepaid bench {report.name}", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return f"chart: {path}"


def _accepted(factory: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` the factory takes as keywords (all of them if it takes ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return dict(options)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {key: v for key, v in options.items() if key in params}


def baseline_explainers(
    adapter: ModelAdapter,
    k: int,
    *,
    normal: Any = None,
    kind: str = "continuous",
    constraints: Sequence[Constraint] = (),
) -> dict[str, Explainer]:
    """Every registered baseline search that applies to ``adapter``, as ``explain(anomalies, seed)``.

    A search is a baseline when its factory has ``is_baseline = True`` and ``kind`` in its
    ``input_kinds``; one with an ``applies_to(adapter, normal=...)`` classmethod returning False
    (e.g. it needs a reconstruction or normal rows) is left out. Factories get ``normal=`` and
    ``seed=`` where their signature takes them; searches run on the adapter's device with
    ``ConcisenessConstraint(k)`` plus ``constraints``.
    """
    if not isinstance(adapter, ModelAdapter):
        raise TypeError(f"adapter: expected a ModelAdapter; got {type(adapter).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer; got {k!r}")
    if not isinstance(kind, str):
        raise TypeError(f"kind: expected an input kind name (str); got {type(kind).__name__}")
    extra = list(constraints)
    for i, c in enumerate(extra):
        if not isinstance(c, Constraint):
            raise TypeError(f"constraints[{i}]: expected a Constraint; got {type(c).__name__}")
    options = {"normal": normal} if normal is not None else {}
    found: dict[str, Explainer] = {}
    for component in registry().iter("searches"):
        factory = component.factory
        if not getattr(factory, "is_baseline", False) or kind not in getattr(factory, "input_kinds", ()):
            continue
        applies = getattr(factory, "applies_to", None)
        if applies is not None and not applies(adapter, normal=normal):
            continue
        found[component.name] = _explainer(
            factory,
            adapter,
            [ConcisenessConstraint(int(k)), *extra],
            _accepted(factory, options),
            "seed" in _accepted(factory, {"seed": 0}),
        )
    return found


def _explainer(
    factory: Callable[..., Any],
    adapter: ModelAdapter,
    constraints: list[Constraint],
    options: dict[str, Any],
    seeded: bool,
) -> Explainer:
    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        search = factory(**options, **({"seed": seed} if seeded else {}))
        return search.search(adapter, anomalies, constraints)

    return explain
