"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from deepaid_sdk.constraints import BUILTIN_CONSTRAINTS
from deepaid_sdk.distances import BUILTIN_DISTANCES
from deepaid_sdk.hookspecs import Register, hookimpl
from deepaid_sdk.model.adapters import ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.model.foreign import NumpyScoreAdapter, OnnxAdapter, SklearnAdapter
from deepaid_sdk.registry import Lazy
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.search.gradient import GradientSearch


@hookimpl
def register_searches(register: Register) -> None:
    register(GradientSearch.name, GradientSearch)
    register(BlackboxSearch.name, BlackboxSearch)


@hookimpl
def register_constraints(register: Register) -> None:
    for constraint in BUILTIN_CONSTRAINTS:
        register(constraint.name, constraint)


@hookimpl
def register_distances(register: Register) -> None:
    for distance in BUILTIN_DISTANCES:
        register(distance.name, distance)


@hookimpl
def register_adapters(register: Register) -> None:
    register("score", ScoreAdapter)
    register("reconstruction", ReconstructionAdapter)
    # Adapters that recognise a model on their own (``accepts``) are asked in this order: ONNX first.
    register("onnx", OnnxAdapter)
    register("sklearn", SklearnAdapter)
    register("numpy", NumpyScoreAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_sdk.gradient_preset import GRADIENT

    register("gradient", GRADIENT)


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "core",
        Lazy(
            "deepaid_sdk.bench.core:run_core_benchmark",
            "Batched vs per-sample gradient search on a 100-dim MLP autoencoder (default 1,000 anomalies).",
        ),
    )
    register(
        "search",
        Lazy(
            "deepaid_sdk.bench.reference_quality:run",
            "The family (``n`` alerts per case and kind, default 120), score-only, robustness, speed.",
        ),
    )
    register(
        "explain",
        Lazy(
            "deepaid_sdk.bench.explain:run_benchmark",
            "Local engine on n and n // 10 alerts, kill-and-resume on n, Ray (1 and 2 workers) on n // 10.",
        ),
    )
    register(
        "serve",
        Lazy(
            "deepaid_sdk.bench.serve:run_benchmark",
            "deepaid serve over loopback: 1/8/64 clients x 1 alert, 64 x 32 (n alerts each, default 512), "
            "beside in-process interpret_batch and a stdlib http.server.",
        ),
    )


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_sdk.distill.magnitude import MagnitudeStates
    from deepaid_sdk.distill.states import IntervalStates

    register(IntervalStates.name, IntervalStates)
    register(MagnitudeStates.name, MagnitudeStates)
