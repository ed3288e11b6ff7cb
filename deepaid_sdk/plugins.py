"""Building the plugin manager: built-ins first, then entry points in group ``deepaid``.

A plugin that fails to import is recorded as a ``PluginFailure`` (and warned about) while the
others still load. ``DEEPAID_BLOCK_PLUGINS`` (comma-separated entry-point names) skips plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from typing import Iterable

import attrs
import pluggy

from deepaid_sdk import hookspecs

#: Internal modules registered through the same hooks as any third-party plugin.
DEFAULT_PLUGINS: tuple[str, ...] = ("deepaid_sdk.builtins",)

BLOCK_ENV = "DEEPAID_BLOCK_PLUGINS"


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised."""

    plugin: str
    """Entry-point or module name of the plugin."""
    distribution: str | None
    """Distribution that declared it, where known."""
    error: str
    """The error, as ``Type: message``."""


class DeepaidPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.distributions: dict[str, str] = {}


def _blocked() -> set[str]:
    return {name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()}


def load_entry_points(
    pm: DeepaidPluginManager, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
) -> None:
    """Load every entry point of group ``deepaid`` into ``pm``; failures are recorded, not raised."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME)
    blocked = _blocked()
    for ep in entry_points:
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        dist_name = getattr(dist, "name", None) if dist is not None else None
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            failure = PluginFailure(ep.name, dist_name, f"{type(exc).__name__}: {exc}")
            pm.failures.append(failure)
            warnings.warn(f"deepaid plugin {ep.name!r} failed to load: {failure.error}", stacklevel=2)
            continue
        if dist_name:
            pm.distributions[ep.name] = dist_name


def get_plugin_manager(*, entry_points: bool = True) -> DeepaidPluginManager:
    """A fresh plugin manager with the built-ins and (by default) every installed plugin."""
    pm = DeepaidPluginManager()
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if entry_points:
        load_entry_points(pm)
    return pm
