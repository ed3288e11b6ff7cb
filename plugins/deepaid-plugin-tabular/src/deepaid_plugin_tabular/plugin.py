"""Hook implementations of the tabular plugin (entry point ``tabular`` in group ``deepaid``)."""

from __future__ import annotations

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register

from deepaid_plugin_tabular.adapters import AutoencoderAdapter
from deepaid_plugin_tabular.constraints import GridConstraint
from deepaid_plugin_tabular.preset import tabular_interpreter


@hookimpl
def register_adapters(register: Register) -> None:
    register("autoencoder", AutoencoderAdapter)


@hookimpl
def register_constraints(register: Register) -> None:
    register(GridConstraint.name, GridConstraint)


@hookimpl
def register_interpreters(register: Register) -> None:
    register("tabular", tabular_interpreter)


@hookimpl
def register_demos(register: Register) -> None:
    from deepaid_plugin_tabular.demo import run

    register("tabular", run)


@hookimpl
def register_benchmarks(register: Register) -> None:
    from deepaid_plugin_tabular.bench import run

    register("tabular", run)
