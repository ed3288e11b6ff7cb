"""Hook implementations of the deeplog plugin: search, adapter, preset, demo and benchmark."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register


@hookimpl
def register_searches(register: Register) -> None:
    from deepaid_plugin_deeplog.search import DeepLogSearch

    register(DeepLogSearch.name, DeepLogSearch)


@hookimpl
def register_adapters(register: Register) -> None:
    from deepaid_plugin_deeplog.adapters import DeepLogAdapter

    register("deeplog", DeepLogAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_plugin_deeplog.preset import deeplog_interpreter

    register("deeplog", deeplog_interpreter)


@hookimpl
def register_demos(register: Register) -> None:
    from deepaid_plugin_deeplog.demo import run

    register("deeplog", run)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_plugin_deeplog.bench import run
    from deepaid_plugin_deeplog.explain_bench import run as run_files

    register("deeplog", run)
    register("deeplog-files", run_files)


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_plugin_deeplog.distill_states import EditStates

    register(EditStates.name, EditStates)


@hookimpl
def register_explain_inputs(register: Register) -> None:
    from deepaid_plugin_deeplog.explain_input import LogSessionInput

    register("deeplog", LogSessionInput)
