"""Hook implementations of the PyOD plugin (entry point ``pyod`` in group ``deepaid``)."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register

from deepaid_plugin_pyod.adapters import pyod_adapter
from deepaid_plugin_pyod.preset import pyod_interpreter


@hookimpl
def register_adapters(register: Register) -> None:
    register("pyod", pyod_adapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    register("pyod", pyod_interpreter)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_plugin_pyod.bench import run

    register("pyod", run)
