"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from deepaid_sdk.adapters import ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.blackbox import BlackboxSearch
from deepaid_sdk.blackbox_adapters import NumpyScoreAdapter, OnnxAdapter, SklearnAdapter
from deepaid_sdk.constraints import BUILTIN_CONSTRAINTS
from deepaid_sdk.distances import BUILTIN_DISTANCES
from deepaid_sdk.gradient import GradientSearch
from deepaid_sdk.hookspecs import Register, hookimpl


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
    register("sklearn", SklearnAdapter)
    register("onnx", OnnxAdapter)
    register("numpy", NumpyScoreAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_sdk.interpreter import gradient_interpreter

    register("gradient", gradient_interpreter)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_sdk.benchmarks import reference_quality
    from deepaid_sdk.benchmarks.core import run_core_benchmark
    from deepaid_sdk.benchmarks.explain import run_benchmark as run_explain_benchmark

    register("core", run_core_benchmark)
    register("search", reference_quality.run)
    register("explain", run_explain_benchmark)


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_sdk.distill.states import IntervalStates

    register(IntervalStates.name, IntervalStates)
