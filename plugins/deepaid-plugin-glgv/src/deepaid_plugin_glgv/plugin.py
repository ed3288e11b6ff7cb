"""Hook implementations: what this plugin registers with deepaid."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register


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
    from deepaid_plugin_glgv.preset import glgv_interpreter

    register("glgv", glgv_interpreter)


@hookimpl
def register_demos(register: Register) -> None:
    from deepaid_plugin_glgv.demo import run

    register("glgv", run)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_plugin_glgv.bench import run

    register("glgv", run)


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_plugin_glgv.distill_states import EndpointStates

    register(EndpointStates.name, EndpointStates)


@hookimpl
def register_explain_inputs(register: Register) -> None:
    from deepaid_plugin_glgv.explain_input import EdgeListInput

    register("glgv", EdgeListInput)
