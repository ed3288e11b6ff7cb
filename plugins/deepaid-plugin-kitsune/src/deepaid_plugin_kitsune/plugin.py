"""Hook implementations: the KitNET adapter, the ``kitsune`` preset, demo and benchmark."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register
from deepaid_sdk.registry import Lazy


@hookimpl
def register_adapters(register: Register) -> None:
    from deepaid_plugin_kitsune.adapters import KitNETAdapter

    register("kitnet", KitNETAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_plugin_kitsune.preset import KITSUNE_PRESET

    register("kitsune", KITSUNE_PRESET)


@hookimpl
def register_explain_inputs(register: Register) -> None:
    from deepaid_plugin_kitsune.explain_input import KitsuneInput

    register("kitsune", KitsuneInput)


@hookimpl
def register_demos(register: Register) -> None:
    register(
        "kitsune",
        Lazy(
            "deepaid_plugin_kitsune.demo:run",
            "Train KitNET on synthetic traffic, explain its top alerts with AfterImage names, write plots.",
        ),
    )
    register(
        "distill",
        Lazy(
            "deepaid_plugin_kitsune.distill_demo:run",
            "The Distiller workflow end to end on KitNET alerts; writes the rules and the triaged queue.",
        ),
    )


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "kitsune",
        Lazy(
            "deepaid_plugin_kitsune.bench:run",
            "DeepAID vs every continuous baseline on KitNET alerts (default 300): flip@5, recall@5, ...",
        ),
    )
    register(
        "distill",
        Lazy(
            "deepaid_plugin_kitsune.distill_bench:run",
            "Distilled rules vs baselines on held-out KitNET alerts, then KitNET retrained from false positives.",
        ),
    )
