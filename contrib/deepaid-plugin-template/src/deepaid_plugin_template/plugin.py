"""Hook implementations: what this plugin adds to deepaid."""

from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register

from deepaid_plugin_template.canberra import CanberraDistance


@hookimpl
def register_distances(register: Register) -> None:
    register(CanberraDistance.name, CanberraDistance)
