"""Hook implementations of the deeplog plugin: search, adapter, preset, demo and benchmark."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register
from deepaid_sdk.registry import Lazy


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
    from deepaid_plugin_deeplog.preset import DEEPLOG_PRESET

    register("deeplog", DEEPLOG_PRESET)


@hookimpl
def register_demos(register: Register) -> None:
    register(
        "deeplog",
        Lazy(
            "deepaid_plugin_deeplog.demo:run",
            "Run the whole DeepLog story on synthetic HDFS-like logs; print tables, write files to ``out_dir``.",
        ),
    )


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "deeplog",
        Lazy(
            "deepaid_plugin_deeplog.bench:run",
            "DeepAID vs baselines on the synthetic logs at top-g 9 (DeepLog's default) and 5 (more window alerts).",
        ),
    )
    register(
        "deeplog-files",
        Lazy(
            "deepaid_plugin_deeplog.explain_bench:run",
            "The file job on ``n`` sessions (default 5,000) against the in-memory session search.",
        ),
    )


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_plugin_deeplog.distill_states import EditStates

    register(EditStates.name, EditStates)


@hookimpl
def register_explain_inputs(register: Register) -> None:
    from deepaid_plugin_deeplog.explain_input import LogSessionInput

    register("deeplog", LogSessionInput)
