"""Hook implementations: what this plugin adds to the ``deepaid`` registry."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register
from deepaid_sdk.registry import Lazy


@hookimpl
def register_adapters(register: Register) -> None:
    from deepaid_plugin_multits.adapters import LSTMPredictorAdapter

    register("lstm-predictor", LSTMPredictorAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_plugin_multits.preset import MULTITS_PRESET

    register("multits", MULTITS_PRESET)


@hookimpl
def register_demos(register: Register) -> None:
    register(
        "multits",
        Lazy(
            "deepaid_plugin_multits.demo:run",
            "Synthetic series -> LSTM detector -> alerts -> references (last step, then all steps) -> tables, plots.",
        ),
    )


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "multits",
        Lazy(
            "deepaid_plugin_multits.bench:run",
            "Recall@K, flip@K, stability, robustness and speed on ``n`` planted events (default 1,000), both cases.",
        ),
    )


@hookimpl
def register_distill_states(register: Register) -> None:
    from deepaid_plugin_multits.distill_states import StepIntervalStates

    register(StepIntervalStates.name, StepIntervalStates)
