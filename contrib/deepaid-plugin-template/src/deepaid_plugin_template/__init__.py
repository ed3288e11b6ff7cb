"""A template deepaid plugin: the Canberra distance, registered through the ``deepaid`` entry point."""

from deepaid_plugin_template.canberra import CanberraDistance

__all__ = ["CanberraDistance"]
