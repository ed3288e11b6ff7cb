"""Hook implementations: what this plugin adds to deepaid."""

from deepaid_plugin_template.canberra import CanberraDistance
from deepaid_plugin_template.decrease_only import DecreaseOnlyConstraint
from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register


@hookimpl
def register_distances(register: Register) -> None:
    register(CanberraDistance.name, CanberraDistance)


@hookimpl
def register_constraints(register: Register) -> None:
    register(DecreaseOnlyConstraint.name, DecreaseOnlyConstraint)
