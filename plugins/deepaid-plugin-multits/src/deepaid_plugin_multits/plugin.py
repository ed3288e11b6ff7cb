"""Hook implementations: what this plugin adds to the ``deepaid`` registry."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register


@hookimpl
def register_adapters(register: Register) -> None:
    from deepaid_plugin_multits.adapters import LSTMPredictorAdapter

    register("lstm-predictor", LSTMPredictorAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_plugin_multits.preset import multits_interpreter

    register("multits", multits_interpreter)


@hookimpl
def register_demos(register: Register) -> None:
    from deepaid_plugin_multits.demo import run

    register("multits", run)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_plugin_multits.bench import run

    register("multits", run)


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_plugin_multits.distill_states import StepIntervalStates

    register(StepIntervalStates.name, StepIntervalStates)
