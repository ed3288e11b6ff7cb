"""Hook implementations: the KitNET adapter, the ``kitsune`` preset, demo and benchmark."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register


@hookimpl
def register_adapters(register: Register) -> None:
    from deepaid_plugin_kitsune.adapters import KitNETAdapter

    register("kitnet", KitNETAdapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    from deepaid_plugin_kitsune.preset import kitsune_interpreter

    register("kitsune", kitsune_interpreter)


@hookimpl
def register_demos(register: Register) -> None:
    from deepaid_plugin_kitsune.demo import run

    register("kitsune", run)

    from deepaid_plugin_kitsune.distill_demo import run as run_distill_demo

    register("distill", run_distill_demo)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_plugin_kitsune.bench import run

    register("kitsune", run)

    from deepaid_plugin_kitsune.distill_bench import run as run_distill_bench

    register("distill", run_distill_bench)
