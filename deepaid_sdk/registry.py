"""What the plugins registered: components by kind and name, each with its provider."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Iterator

import attrs

from deepaid_sdk.hookspecs import HOOKS_BY_KIND
from deepaid_sdk.plugins import DeepaidPluginManager, PluginFailure, get_plugin_manager
from deepaid_sdk.preset_options import Preset


class RegistryError(ValueError):
    """A duplicate or unknown component name."""


#: One of each kind, as messages name it ("unknown search 'x'").
SINGULAR = {
    "searches": "search",
    "constraints": "constraint",
    "distances": "distance",
    "adapters": "adapter",
    "interpreters": "interpreter",
    "demos": "demo",
    "benchmarks": "benchmark",
    "distill_states": "state extractor",
    "explain_inputs": "explain input",
}


def singular(kind: str) -> str:
    """``kind`` ("searches") as one of it ("search")."""
    return SINGULAR.get(kind, kind.rstrip("s"))


@attrs.frozen
class Lazy:
    """A factory imported only when it is called: ``Lazy("package.module:function", "what it does")``.

    Benchmarks and demos register this way, so building the registry (every ``create()``) imports none
    of their code.
    """

    target: str
    doc: str

    def load(self) -> Any:
        import importlib

        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)


@attrs.frozen
class Component:
    """One registered thing: a search, constraint, distance, adapter, interpreter, demo, benchmark, state
    extractor or explain input."""

    kind: str
    name: str
    factory: Any = attrs.field(eq=False)
    provider: str
    """The plugin that registered it."""

    def describe(self) -> str:
        if isinstance(self.factory, (Preset, Lazy)):
            return self.factory.doc
        doc = (getattr(self.factory, "__doc__", None) or "").strip().splitlines()
        return doc[0] if doc else ""


@attrs.define(eq=False)
class Registry:
    """Components by kind then name, plus the plugins that failed to load."""

    components: dict[str, dict[str, Component]] = attrs.field(factory=lambda: {kind: {} for kind in HOOKS_BY_KIND})
    failures: list[PluginFailure] = attrs.field(factory=list)
    plugins: dict[str, str | None] = attrs.field(factory=dict)
    """Plugin name -> distribution that provides it (None for built-ins and directly registered objects)."""

    @classmethod
    def from_plugin_manager(cls, pm: DeepaidPluginManager) -> Registry:
        """Call every hook of every plugin, recording who registered what."""
        reg = cls(failures=list(pm.failures))
        for name, _plugin in pm.list_name_plugin():
            reg.plugins[name] = pm.distributions.get(name)
        for kind, hook_name in HOOKS_BY_KIND.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                register = reg._register_for(kind, impl.plugin_name)
                kwargs = {"register": register} if "register" in impl.argnames else {}
                try:
                    impl.function(**kwargs)
                except RegistryError:
                    raise
                except Exception as exc:
                    failure = PluginFailure(
                        impl.plugin_name,
                        pm.distributions.get(impl.plugin_name),
                        f"{hook_name}: {type(exc).__name__}: {exc}",
                    )
                    reg.failures.append(failure)
                    warnings.warn(f"deepaid plugin {impl.plugin_name!r} failed in {failure.error}", stacklevel=2)
        return reg

    def _register_for(self, kind: str, provider: str) -> Callable[[str, Any], None]:
        def register(name: str, factory: Any) -> None:
            self.add(Component(kind, name, factory, provider))

        return register

    def add(self, component: Component) -> None:
        """Add one component; a name already taken is an error naming both providers."""
        if not isinstance(component.name, str) or not component.name:
            raise RegistryError(
                f"{component.provider} registered a {singular(component.kind)} with name {component.name!r}; "
                "expected a non-empty string"
            )
        if not callable(component.factory):
            raise RegistryError(
                f"{component.provider} registered {singular(component.kind)} {component.name!r} with "
                f"factory {component.factory!r}; expected a callable"
            )
        if component.kind == "interpreters":  # the one place a preset's options are read: its declaration
            component = attrs.evolve(component, factory=Preset.of(component.factory, component.name))
        existing = self.components[component.kind].get(component.name)
        if existing is not None:
            raise RegistryError(
                f"{singular(component.kind)} {component.name!r} is registered twice: by {existing.provider} "
                f"and by {component.provider}"
            )
        self.components[component.kind][component.name] = component

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; an unknown name lists what exists and who provides it."""
        if kind not in self.components:
            raise RegistryError(f"unknown component kind {kind!r}; expected one of {sorted(self.components)}")
        try:
            return self.components[kind][name]
        except KeyError:
            known = ", ".join(f"{c.name} ({c.provider})" for c in self.iter(kind)) or "none"
            raise RegistryError(f"unknown {singular(kind)} {name!r}; registered: {known}") from None

    def names(self, kind: str) -> list[str]:
        """The names registered for ``kind`` (e.g. ``"searches"``), sorted."""
        return sorted(self.components[kind])

    def iter(self, kind: str) -> Iterator[Component]:
        """The components of ``kind``, in name order."""
        for name in sorted(self.components[kind]):
            yield self.components[kind][name]

    def build(self, kind: str, spec: Any, expected: type, **options: Any) -> Any:
        """Turn ``spec`` into a component instance.

        ``spec`` is an instance of ``expected`` (returned as is), a registered name, or a
        ``(name, {options})`` pair; ``options`` are passed to the factory as well.
        """
        if isinstance(spec, expected):
            return spec
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
            name, extra = spec
            return self._call(kind, name, {**options, **extra})
        if isinstance(spec, str):
            return self._call(kind, spec, options)
        raise TypeError(
            f"expected a {expected.__name__}, a registered {singular(kind)} name or a (name, options) pair; "
            f"got {type(spec).__name__}: {spec!r}"
        )

    def _call(self, kind: str, name: str, options: dict[str, Any]) -> Any:
        """Call the factory of ``name``; options it cannot take are a TypeError that shows what it takes."""
        factory = self.get(kind, name).factory
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):
            return factory(**options)
        try:
            signature.bind(**options)
        except TypeError as exc:
            takes = ", ".join(p for p in signature.parameters if p not in ("self", "args", "kwargs")) or "nothing"
            raise TypeError(
                f"{singular(kind)} {name!r}: {exc}; it takes {takes}; pass options as a (name, options) "
                f"pair, e.g. ({name!r}, {{...}})"
            ) from None
        return factory(**options)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe listing, as printed by ``deepaid plugins --json``."""
        by_plugin: dict[str, dict[str, Any]] = {
            name: {"name": name, "distribution": dist, "components": {kind: [] for kind in self.components}}
            for name, dist in self.plugins.items()
        }
        for kind in self.components:
            for comp in self.iter(kind):
                entry = by_plugin.setdefault(
                    comp.provider,
                    {"name": comp.provider, "distribution": None, "components": {k: [] for k in self.components}},
                )
                entry["components"][kind].append(comp.name)
        return {
            "plugins": sorted(by_plugin.values(), key=lambda p: p["name"]),
            "components": {
                kind: [
                    {
                        "name": c.name,
                        "provider": c.provider,
                        "description": c.describe(),
                        **(
                            {"options": [o.describe() for o in c.factory.options]}
                            if isinstance(c.factory, Preset)
                            else {}
                        ),
                    }
                    for c in self.iter(kind)
                ]
                for kind in self.components
            },
            "failures": [attrs.asdict(f) for f in self.failures],
        }


_REGISTRY: Registry | None = None


def registry(*, refresh: bool = False) -> Registry:
    """The registry of every installed plugin, built on first use (never at import time)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        _REGISTRY = Registry.from_plugin_manager(get_plugin_manager())
    return _REGISTRY
