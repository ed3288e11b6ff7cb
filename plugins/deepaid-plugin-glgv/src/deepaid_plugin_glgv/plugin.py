"""Hook implementations: what this plugin registers with deepaid."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register
from deepaid_sdk.registry import Lazy


@hookimpl
def register_searches(register: Register) -> None:
    from deepaid_plugin_glgv.search import GraphReferenceSearch

    register(GraphReferenceSearch.name, GraphReferenceSearch)


@hookimpl
def register_constraints(register: Register) -> None:
    from deepaid_plugin_glgv.constraints import SameKindsConstraint

    register(SameKindsConstraint.name, SameKindsConstraint)


@hookimpl
def register_distances(register: Register) -> None:
    from deepaid_plugin_glgv.distances import EdgeEmbeddingDistance, HopDistance

    register(HopDistance.name, HopDistance)
    register(EdgeEmbeddingDistance.name, EdgeEmbeddingDistance)


@hookimpl
def register_adapters(register: Register) -> None:
    from deepaid_plugin_glgv.adapters import EdgeAdapter

    register("edge", EdgeAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_plugin_glgv.preset import GLGV_PRESET

    register("glgv", GLGV_PRESET)


@hookimpl
def register_demos(register: Register) -> None:
    register(
        "glgv",
        Lazy(
            "deepaid_plugin_glgv.demo:run",
            "Train GL-GV on a normal period, flag the test period's edges, explain every alert; print and plot.",
        ),
    )


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "glgv",
        Lazy(
            "deepaid_plugin_glgv.bench:run",
            "Graph search vs nearest normal edge by embedding, on every alert of the synthetic enterprise; plus scale.",
        ),
    )


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_plugin_glgv.distill_states import EndpointStates

    register(EndpointStates.name, EndpointStates)


@hookimpl
def register_explain_inputs(register: Register) -> None:
    from deepaid_plugin_glgv.explain_input import EdgeListInput

    register("glgv", EdgeListInput)
