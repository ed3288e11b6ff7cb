"""Hook implementations of the tabular plugin (entry point ``tabular`` in group ``deepaid``)."""

from __future__ import annotations

from deepaid_plugin_tabular.adapters import AutoencoderAdapter
from deepaid_plugin_tabular.constraints import GridConstraint
from deepaid_plugin_tabular.preset import TABULAR_PRESET
from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register
from deepaid_sdk.registry import Lazy


@hookimpl
def register_adapters(register: Register) -> None:
    register("autoencoder", AutoencoderAdapter)


@hookimpl
def register_constraints(register: Register) -> None:
    register(GridConstraint.name, GridConstraint)


@hookimpl
def register_interpreters(register: Register) -> None:
    register("tabular", TABULAR_PRESET)


@hookimpl
def register_demos(register: Register) -> None:
    register(
        "tabular",
        Lazy(
            "deepaid_plugin_tabular.demo:run",
            "Run the demo, print what it does, write CSV and PNG files into ``out_dir``; returns 0 on success.",
        ),
    )


@hookimpl
def register_benchmarks(register: Register) -> None:
    register(
        "tabular",
        Lazy(
            "deepaid_plugin_tabular.bench:run",
            "Blob (K=10) and manifold (K=5) cases, ours vs the continuous baselines (default 50 anomalies each).",
        ),
    )
