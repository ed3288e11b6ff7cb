"""Hook specifications of the ``deepaid`` plugin host.

Every hook receives a ``register(name, factory)`` callable. The host records which plugin
registered what, so a duplicate name is reported with both providers.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT_NAME = "deepaid"
"""The pluggy project name, which is also the entry-point group a plugin declares."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks the hook specifications of this module (the host's side)."""
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's hook implementations (also importable as ``deepaid_sdk.hookimpl``)."""

Register = Callable[[str, Any], None]
"""The ``register(name, factory)`` callable every hook receives."""


@hookspec
def register_searches(register: Register) -> None:
    """Register ``ReferenceSearch`` factories: ``register("gradient", GradientSearch)``."""


@hookspec
def register_constraints(register: Register) -> None:
    """Register ``Constraint`` factories: ``register("box", BoxConstraint)``."""


@hookspec
def register_distances(register: Register) -> None:
    """Register ``Distance`` factories: ``register("l1", L1Distance)``."""


@hookspec
def register_adapters(register: Register) -> None:
    """Register ``ModelAdapter`` factories: ``register("reconstruction", ReconstructionAdapter)``."""


@hookspec
def register_interpreters(register: Register) -> None:
    """Register interpreter presets: ``register("tabular", make_tabular_interpreter)``.

    A preset factory is called as ``factory(model=..., **options)`` and returns an ``Interpreter``.
    """


@hookspec
def register_demos(register: Register) -> None:
    """Register demos run by ``deepaid demo NAME``: ``register("tabular", run)``.

    ``run(out_dir: pathlib.Path) -> int`` prints what it did and returns an exit status.
    """


@hookspec
def register_benchmarks(register: Register) -> None:
    """Register benchmarks run by ``deepaid bench NAME``: ``register("tabular", run)``.

    ``run(n: int | None, seed: int, device: str, out: pathlib.Path)`` returns a
    ``deepaid_sdk.bench.report.BenchmarkReport`` (``n=None``: the benchmark's default size).
    """


@hookspec
def register_distill_states(register: Register) -> None:
    """Register Distiller state extractors: ``register("intervals", IntervalStates)``.

    ``factory(**params)`` returns a ``deepaid_sdk.distill.StateExtractor``; ``params`` are what
    the extractor's ``params()`` saved with the rules, so ``Distiller.from_dict`` rebuilds it by name.
    """


@hookspec
def register_explain_inputs(register: Register) -> None:
    """Register how ``deepaid explain`` reads files for a preset: ``register("deeplog", LogSessionInput)``.

    The name is the preset's; ``factory(**options)`` (its own ``--option`` keys) returns a
    ``deepaid_sdk.explain.inputs.ExplainInput``. Presets with none read one row (or window) per sample.
    """


#: Component kinds, in the order ``deepaid plugins`` lists them, mapped to their hook names.
HOOKS_BY_KIND: dict[str, str] = {
    "searches": "register_searches",
    "constraints": "register_constraints",
    "distances": "register_distances",
    "adapters": "register_adapters",
    "interpreters": "register_interpreters",
    "demos": "register_demos",
    "benchmarks": "register_benchmarks",
    "distill_states": "register_distill_states",
    "explain_inputs": "register_explain_inputs",
}
