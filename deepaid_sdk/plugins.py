"""Building the plugin manager: built-ins first, then entry points in group ``deepaid``.

A plugin that fails to import, or whose hook matches no hookspec (a misspelt ``register_*``), is
recorded as a ``PluginFailure`` (and warned about) while the others still load; in a built-in a
misspelt hook is an error. ``DEEPAID_BLOCK_PLUGINS`` (comma-separated entry-point names) skips plugins.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import os
import warnings
from typing import Any, Iterable

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
    """A pluggy manager that also remembers plugins that failed to load, and names what is wrong with a hook."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.distributions: dict[str, str] = {}

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """pluggy's ``register``; a hook asking for an argument its hookspec lacks is a clear error.

        pluggy refuses such a plugin with a message about "hookimpl definitions"; this one names the
        plugin, the function, the unknown argument and the arguments the hook passes.
        """
        try:
            return super().register(plugin, name)
        except pluggy.PluginValidationError as exc:
            label = name or self.get_canonical_name(plugin)
            problems = _unknown_arguments(self, plugin)
            message = "; ".join(problems) if problems else str(exc).replace("\n", "; ")
            raise pluggy.PluginValidationError(plugin, f"deepaid plugin {label!r}: {message}") from exc

    def check_hooks(self) -> None:
        """pluggy's ``check_pending``, applied plugin by plugin.

        A hook implementation that matches no hookspec (``register_serches``) is an error naming the
        plugin, the function and the nearest hook. In a built-in it is raised; any other plugin is
        unregistered, recorded in ``failures`` and warned about, so the others still load.
        """
        while True:
            try:
                self.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                plugin = exc.plugin
                name = self.get_name(plugin) or repr(plugin)
                message = _unknown_hooks_message(self, plugin, name)
                if name in DEFAULT_PLUGINS:
                    raise pluggy.PluginValidationError(plugin, message) from exc
                self.unregister(plugin)
                failure = PluginFailure(name, self.distributions.pop(name, None), f"PluginValidationError: {message}")
                self.failures.append(failure)
                warnings.warn(message, stacklevel=2)


#: Each hook's argument names, from the hookspecs.
HOOK_ARGUMENTS: dict[str, tuple[str, ...]] = {
    hook: tuple(inspect.signature(getattr(hookspecs, hook)).parameters) for hook in hookspecs.HOOKS_BY_KIND.values()
}


def _nearest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown_hooks_message(pm: DeepaidPluginManager, plugin: Any, name: str) -> str:
    """One line per function of ``plugin`` whose hook has no spec, with the nearest hook that exists."""
    dist = pm.distributions.get(name)
    label = f"deepaid plugin {name!r}" + (f" ({dist})" if dist else "")
    known = sorted(HOOK_ARGUMENTS)
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                function = getattr(impl.function, "__name__", caller.name)
                shown = function if function == caller.name else f"{function} (hook {caller.name})"
                problems.append(f"{shown} is not a deepaid hook{_nearest(caller.name, known)}")
    return f"{label}: {'; '.join(problems) or 'a hook matches no hookspec'}; the hooks are {', '.join(known)}"


def _required_arguments(function: Any) -> list[str]:
    """What pluggy calls a hook implementation's arguments: the named ones without a default."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty]


def _unknown_arguments(pm: DeepaidPluginManager, plugin: Any) -> list[str]:
    """One line per hook function of ``plugin`` that asks for an argument its hookspec does not pass."""
    problems = []
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        hook = (dict(opts) if opts else {}).get("specname") or attr
        if opts is None or hook not in HOOK_ARGUMENTS:
            continue
        function = getattr(plugin, attr)
        asked = _required_arguments(function)
        unknown = [a for a in asked if a not in HOOK_ARGUMENTS[hook]]
        if unknown:
            passes = ", ".join(HOOK_ARGUMENTS[hook])
            problems.append(
                f"{attr}({', '.join(asked)}) asks for {', '.join(map(repr, unknown))}, which {hook} "
                f"does not pass{_nearest(unknown[0], HOOK_ARGUMENTS[hook])}; it passes: {passes}"
            )
    return problems


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
    """A fresh plugin manager with the built-ins and (by default) every installed plugin, hooks checked."""
    pm = DeepaidPluginManager()
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if entry_points:
        load_entry_points(pm)
    pm.check_hooks()
    return pm
