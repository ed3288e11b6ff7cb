"""Hook implementations of the PyOD plugin (entry point ``pyod`` in group ``deepaid``)."""

from __future__ import annotations

from deepaid_plugin_pyod.adapters import pyod_adapter
from deepaid_plugin_pyod.preset import PYOD_PRESET
from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register
from deepaid_sdk.registry import Lazy


@hookimpl
def register_adapters(register: Register) -> None:
    register("pyod", pyod_adapter)


@hookimpl
def register_interpreters(register: Register) -> None:
    register("pyod", PYOD_PRESET)


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "pyod",
        Lazy(
            "deepaid_plugin_pyod.bench:run",
            "Blob and manifold cases for IsolationForest, ECOD and AutoEncoder (``n`` alerts each, default 50).",
        ),
    )
