"""``check_plugin(name)``: every conformance check on what one plugin registers, as one report.

The model is scikit-learn's ``check_estimator``: one call a plugin's tests make. It checks that the
plugin loaded, that each registration is what ``deepaid plugins`` and the host need, and runs the
matching check of ``deepaid_sdk.testing`` on every component it can build: searches, constraints and
distances on a small synthetic detector (``deepaid_sdk.conformance_checks``), adapters from an
``Example``. A component it cannot check is listed as "not checked" with the reason, never skipped.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

import attrs

from deepaid_sdk.conformance_checks import (
    RUNNERS,
    Built,
    Example,
    Status,
    SyntheticCase,
    build_component,
    registration_checked,
    registration_problems,
    synthetic_case,
)
from deepaid_sdk.registry import Component, Registry
from deepaid_sdk.registry import registry as installed_registry

__all__ = ["CheckReport", "CheckResult", "Example", "check_plugin"]

#: Rows of the batch-invariance check on the synthetic detector: copies of each alert among others,
#: enough to catch a search that reads the batch, small enough for seconds per plugin.
INVARIANCE_ROWS_FAST = 32

#: Why a kind of component has no conformance check of its own.
NO_CHECK: dict[str, str] = {
    "interpreters": "deepaid_sdk.testing has no check for presets (one needs a model of its domain); the "
    "searches, constraints and adapters it wires are checked on their own",
    "demos": "a demo trains and writes files for minutes; check_plugin does not run it (deepaid demo NAME does)",
    "benchmarks": "a benchmark runs for minutes; check_plugin does not run it (deepaid bench NAME does)",
    "distill_states": "deepaid_sdk.testing has no check for state extractors",
    "explain_inputs": "deepaid_sdk.testing has no check for explain inputs (they read a user's files)",
}

#: Kinds with a conformance check of their own in ``deepaid_sdk.testing``.
CHECKED_KINDS = tuple(RUNNERS)


def _no_check(kind: str) -> str:
    return NO_CHECK.get(kind, f"deepaid_sdk.testing has no check for {kind}")


@attrs.frozen
class CheckResult:
    """One check of one plugin or component: what was checked, whether it passed, and why not."""

    target: str
    """The plugin's name, or ``kind/name`` of a component (``constraints/decrease-only``)."""
    check: str
    """``loaded``, ``components``, ``registration``, or the ``deepaid_sdk.testing`` function run."""
    status: Status
    detail: str = ""
    """The error of a failed check, the reason one was not run, or what a passed one ran on."""

    def line(self) -> str:
        """One line for the report: status, target, check and the detail."""
        head = f"{self.status:<11} {self.target}: {self.check}"
        if not self.detail:
            return head
        first, *rest = self.detail.strip().splitlines() or [""]
        return "\n".join([f"{head}: {first}", *(f"{'':12}  {r}" for r in rest)])


@attrs.frozen
class CheckReport:
    """Every check ``check_plugin`` ran on one plugin (or on every plugin of one distribution)."""

    name: str
    """The plugin or distribution name asked for."""
    plugins: tuple[str, ...]
    """The plugins checked (a distribution may declare several entry points)."""
    results: tuple[CheckResult, ...]

    def _with(self, status: Status) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def passed(self) -> tuple[CheckResult, ...]:
        """The checks that passed."""
        return self._with("passed")

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that failed, each with its error."""
        return self._with("failed")

    @property
    def not_checked(self) -> tuple[CheckResult, ...]:
        """What could not be checked, each with the reason."""
        return self._with("not checked")

    @property
    def ok(self) -> bool:
        """No check failed ("not checked" is not a failure; it is listed)."""
        return not self.failed

    def get(self, target: str, check: str) -> CheckResult:
        """The result of ``check`` on ``target``; an unknown pair lists what was checked."""
        for r in self.results:
            if r.target == target and r.check == check:
                return r
        done = ", ".join(sorted({f"{r.target}: {r.check}" for r in self.results}))
        raise KeyError(f"no check {check!r} of {target!r} in this report; it has: {done}")

    def summary(self) -> str:
        """Counts of passed, failed and not checked, in one line."""
        return (
            f"check_plugin({self.name!r}): {len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.not_checked)} not checked"
        )

    def text(self) -> str:
        """The summary line, then one line per check, failures first."""
        order = {"failed": 0, "not checked": 1, "passed": 2}
        ranked = sorted(self.results, key=lambda r: order[r.status])
        return "\n".join([self.summary(), *(r.line() for r in ranked)])

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-safe data."""
        return {
            "name": self.name,
            "plugins": list(self.plugins),
            "ok": self.ok,
            "results": [attrs.asdict(r) for r in self.results],
        }


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _plugins_named(name: str, reg: Registry) -> tuple[str, ...]:
    """The plugins ``name`` means: a plugin itself, or every plugin of a distribution of that name."""
    known = set(reg.plugins) | {f.plugin for f in reg.failures}
    if name in known:
        return (name,)
    wanted = _normalised(name)
    of_dist = {p for p, d in reg.plugins.items() if d and _normalised(d) == wanted}
    of_dist |= {f.plugin for f in reg.failures if f.distribution and _normalised(f.distribution) == wanted}
    if of_dist:
        return tuple(sorted(of_dist))
    dists = sorted({d for d in reg.plugins.values() if d} | {f.distribution for f in reg.failures if f.distribution})
    raise ValueError(
        f"name: expected a plugin or distribution name as `deepaid plugins --json` shows them; got "
        f"{name!r}; plugins: {', '.join(sorted(known))}; distributions: {', '.join(dists) or 'none'}"
    )


def _components_of(plugins: tuple[str, ...], reg: Registry) -> list[Component]:
    return [c for kind in reg.components for c in reg.iter(kind) if c.provider in plugins]


def _checked_examples(
    examples: Mapping[Any, Example] | None, components: list[Component]
) -> dict[tuple[str, str], Example]:
    """``examples`` keyed by ``(kind, name)`` of a component of these plugins that has a check; else an error."""
    if examples is None:
        return {}
    if not isinstance(examples, Mapping):
        raise TypeError(f"examples: expected a mapping of (kind, name) to Example; got {type(examples).__name__}")
    have = {(c.kind, c.name) for c in components}
    out: dict[tuple[str, str], Example] = {}
    for key, example in examples.items():
        if not isinstance(example, Example):
            raise TypeError(f"examples[{key!r}]: expected a deepaid_sdk.testing.Example; got {type(example).__name__}")
        if key not in have:
            listed = ", ".join(f"({k!r}, {n!r})" for k, n in sorted(have)) or "none"
            raise ValueError(f"examples: {key!r} is not a (kind, name) these plugins registered; they have: {listed}")
        if key[0] not in CHECKED_KINDS:
            raise ValueError(f"examples[{key!r}]: {_no_check(key[0])}; examples apply to {', '.join(CHECKED_KINDS)}")
        out[key] = example
    return out


def _plugin_results(plugin: str, reg: Registry, components: list[Component]) -> list[CheckResult]:
    failures = [f for f in reg.failures if f.plugin == plugin]
    if failures:
        return [CheckResult(plugin, "loaded", "failed", "\n".join(f.error for f in failures))]
    dist = reg.plugins.get(plugin)
    results = [CheckResult(plugin, "loaded", "passed", f"from {dist}" if dist else "registered directly")]
    mine = [c for c in components if c.provider == plugin]
    if mine:
        results.append(CheckResult(plugin, "components", "passed", f"{len(mine)} registered"))
    else:
        results.append(
            CheckResult(
                plugin,
                "components",
                "failed",
                "registered nothing: hook functions must be decorated with deepaid_sdk.hookimpl "
                "and named for a hook (register_searches, register_constraints, ...)",
            )
        )
    return results


def _component_results(
    comp: Component, reg: Registry, example: Example | None, case: Callable[[], SyntheticCase], invariance_rows: int
) -> list[CheckResult]:
    target = f"{comp.kind}/{comp.name}"
    problems = registration_problems(comp, reg)
    results = [
        CheckResult(
            target,
            "registration",
            "failed" if problems else "passed",
            "\n".join(problems) if problems else registration_checked(comp),
        )
    ]
    if comp.kind not in CHECKED_KINDS:
        return [*results, CheckResult(target, "conformance", "not checked", _no_check(comp.kind))]
    if not callable(comp.factory):
        return [*results, CheckResult(target, "conformance", "not checked", "the factory is not callable")]
    built = build_component(comp, example, case)
    if not isinstance(built, Built):
        return [*results, CheckResult(target, *built)]
    outcomes = RUNNERS[comp.kind](built.component, comp.name, example, case, invariance_rows=invariance_rows)
    suffix = f" (options made up: {built.made_up})" if built.made_up else ""
    return [
        *results,
        *(
            CheckResult(target, check, status, detail + (suffix if status == "passed" else ""))
            for check, status, detail in outcomes
        ),
    ]


def check_plugin(
    name: str,
    *,
    registry: Registry | None = None,
    examples: Mapping[tuple[str, str], Example] | None = None,
    raise_on_failure: bool = True,
    invariance_rows: int = INVARIANCE_ROWS_FAST,
) -> CheckReport:
    """Run every conformance check on what plugin (or distribution) ``name`` registers.

    :param name: an entry-point name or a distribution name, as ``deepaid plugins --json`` shows them.
    :param registry: the registry to read (default: every installed plugin, ``deepaid_sdk.registry()``).
    :param examples: ``{(kind, name): Example(options=..., check=...)}`` for components the synthetic
        detector cannot exercise (an adapter's model, a graph, a non-metric distance).
    :param raise_on_failure: raise ``AssertionError`` listing every check (failures first) if one failed.
    :param invariance_rows: rows of the batch-invariance check of searches on the synthetic detector
        (``deepaid_sdk.testing.INVARIANCE_ROWS`` to cross every internal chunk of the core's searches).
    :returns: the report: every check with ``passed``, ``failed`` (and the error) or ``not checked`` (and why).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a plugin or distribution name (a non-empty string); got {name!r}")
    if isinstance(invariance_rows, bool) or not isinstance(invariance_rows, int) or invariance_rows < 2:
        raise ValueError(f"invariance_rows: expected an integer >= 2; got {invariance_rows!r}")
    if registry is not None and not isinstance(registry, Registry):
        raise TypeError(f"registry: expected a deepaid_sdk.registry.Registry; got {type(registry).__name__}")
    reg = installed_registry() if registry is None else registry
    plugins = _plugins_named(name, reg)
    components = _components_of(plugins, reg)
    chosen = _checked_examples(examples, components)
    cached: list[SyntheticCase] = []

    def case() -> SyntheticCase:
        if not cached:
            cached.append(synthetic_case())
        return cached[0]

    results = [r for plugin in plugins for r in _plugin_results(plugin, reg, components)]
    for comp in components:
        results += _component_results(comp, reg, chosen.get((comp.kind, comp.name)), case, invariance_rows)
    report = CheckReport(name, plugins, tuple(results))
    if raise_on_failure and not report.ok:
        raise AssertionError(report.text())
    return report
