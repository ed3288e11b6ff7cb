"""What ``check_plugin`` runs on one component: its registration, and the ``deepaid_sdk.testing`` check of its kind.

Searches, constraints and distances are built and checked on a synthetic detector (``synthetic_case``:
a linear autoencoder on 6 features, its normal rows and 4 alerts); what it cannot exercise (an adapter's
model, a graph) comes from an ``Example``. ``deepaid_sdk.testing`` is imported at call time: it
re-exports ``check_plugin``, so importing it here at load would be circular.
"""

from __future__ import annotations

import copy
import inspect
import pathlib
import traceback
from typing import Any, Callable, Literal, Mapping

import attrs
import torch
from torch import Tensor, nn

from deepaid_sdk.constraints import ConcisenessConstraint, Constraint
from deepaid_sdk.distances import Distance, L2Distance
from deepaid_sdk.model.adapters import ModelAdapter, ReconstructionAdapter
from deepaid_sdk.registry import Component, Lazy, Registry
from deepaid_sdk.search import ReferenceSearch

Status = Literal["passed", "failed", "not checked"]
#: ``(check, status, detail)`` of one check on one component.
Outcome = tuple[str, Status, str]

WIDTH = 6
#: Values for option names the core documents (constraint ``k``, ``dims``, ``groups``, ``low``,
#: ``high``), given to a factory only where it *requires* them; ``normal`` (the synthetic normal rows)
#: is given wherever a factory takes it. Any other required option makes a component "not checked".
SYNTHETIC_OPTIONS: dict[str, Any] = {"k": 2, "dims": [0, 2], "groups": [[3, 4, 5]], "low": -4.0, "high": 4.0}

#: What each kind's factory must return.
EXPECTED: dict[str, type] = {
    "searches": ReferenceSearch,
    "constraints": Constraint,
    "distances": Distance,
    "adapters": ModelAdapter,
}
#: Kinds whose classes carry a ``name`` that results and saved rules record (it must be the registered one).
NAMED_KINDS = ("searches", "constraints", "distances", "distill_states")


def _mapping_or_none(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"check: expected a mapping of keyword arguments or None; got {type(value).__name__}")
    return dict(value)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"options: expected a mapping of factory options; got {type(value).__name__}")
    return dict(value)


@attrs.frozen(eq=False)
class Example:
    """How ``check_plugin`` builds and checks a component the synthetic detector cannot exercise.

    ``options`` go to the registered factory (``factory(**options)``). ``check``, when given, is passed
    as it is to the check of the component's kind in ``deepaid_sdk.testing``: ``check_search(adapter=,
    anomalies=, constraints=)``, ``check_adapter(batch=)``, ``check_constraint(sample_shape=, refs=,
    anomalies=, adapter=)``, ``check_distance(sample_shape=, a=, b=, c=, metric=)``; without it the
    synthetic detector's inputs are used (an adapter's batch: the synthetic alerts).
    """

    options: dict[str, Any] = attrs.field(factory=dict, converter=_mapping)
    check: dict[str, Any] | None = attrs.field(default=None, converter=_mapping_or_none)


@attrs.frozen(eq=False)
class SyntheticCase:
    """The small world components are checked in: a detector, its normal rows, alerts and a K budget."""

    adapter: ModelAdapter
    normal: Tensor
    anomalies: Tensor
    constraints: tuple[Constraint, ...]

    def describe(self) -> str:
        return (
            f"the synthetic detector (a linear autoencoder on {WIDTH} features), {self.anomalies.shape[0]} "
            f"alerts, k={self.constraints[0].max_changes}"
        )


def synthetic_case(seed: int = 0) -> SyntheticCase:
    """A plane in 6 features learnt exactly (encoder = an orthonormal basis), calibrated on rows near it.

    Built without touching the global random state, so a caller's seeded test is unaffected.
    """
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(WIDTH, 2, generator=gen, dtype=torch.float64))[0].float()
    encoder = nn.utils.skip_init(nn.Linear, WIDTH, 2, bias=False)
    decoder = nn.utils.skip_init(nn.Linear, 2, WIDTH, bias=False)
    with torch.no_grad():
        encoder.weight.copy_(basis.T)
        decoder.weight.copy_(basis)
    model = nn.Sequential(encoder, decoder).requires_grad_(False)
    normal = torch.randn(256, 2, generator=gen) @ basis.T + 0.05 * torch.randn(256, WIDTH, generator=gen)
    adapter = ReconstructionAdapter(model, device="cpu")
    adapter.calibrate(normal, 99.0)
    rows = torch.arange(4)
    anomalies = normal[:4].clone()
    anomalies[rows, rows] += 2.0 + rows
    anomalies[rows, (rows + 3) % WIDTH] -= 1.5
    return SyntheticCase(adapter, normal, anomalies, (ConcisenessConstraint(2),))


def _signature(factory: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):
        return None


def synthetic_options(factory: Any, case: SyntheticCase) -> dict[str, Any] | str:
    """Options for ``factory`` from ``SYNTHETIC_OPTIONS`` (and ``normal``), or why it cannot be built alone."""
    signature = _signature(factory)
    if signature is None:
        return {}
    options: dict[str, Any] = {}
    missing = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name == "normal" and p.kind is not p.POSITIONAL_ONLY:
            options["normal"] = case.normal.clone()
        elif p.default is p.empty:
            if p.name in SYNTHETIC_OPTIONS and p.kind is not p.POSITIONAL_ONLY:
                options[p.name] = copy.deepcopy(SYNTHETIC_OPTIONS[p.name])
            else:
                missing.append(p.name)
    if missing:
        return f"its factory needs {', '.join(missing)}, which check_plugin cannot make up"
    return options


@attrs.frozen(eq=False)
class Built:
    """A component built for its check, and the options check_plugin made up for it (shown in the report)."""

    component: Any
    made_up: str = ""


def build_component(comp: Component, example: Example | None, case: Callable[[], SyntheticCase]) -> Built | Outcome:
    """The component from its example's options, or from made-up ones; an outcome where that fails."""
    how = f"pass examples={{({comp.kind!r}, {comp.name!r}): Example(options=..., check=...)}} to check it"
    if example is None and comp.kind == "adapters":
        return (
            "conformance",
            "not checked",
            f"an adapter wraps a model of its own kind, which check_plugin cannot make up; {how}",
        )
    if example is None:
        options = synthetic_options(comp.factory, case())
        if isinstance(options, str):
            return "conformance", "not checked", f"{options}; {how}"
        shown = {k: ("<the synthetic normal rows>" if k == "normal" else v) for k, v in options.items()}
        made_up = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    else:
        options, made_up = dict(example.options), ""
    try:
        component = comp.factory(**options)
    except Exception as exc:
        if example is None:
            return "conformance", "not checked", f"factory({made_up}) raised {_error(exc)}; {how}"
        return "factory", "failed", f"factory(**example.options) raised {_error(exc)}"
    expected = EXPECTED[comp.kind]
    if not isinstance(component, expected):
        return "factory", "failed", f"returned a {type(component).__name__}; expected a {expected.__name__}"
    return Built(component, made_up)


def _error(exc: BaseException) -> str:
    """``Type: message (at file:line in function)``, the innermost frame, so an author sees where."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {pathlib.Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _run(check: str, run: Callable[[], Any], passed: str) -> Outcome:
    try:
        run()
    except AssertionError as exc:
        return check, "failed", str(exc).strip() or _error(exc)
    except Exception as exc:
        return check, "failed", _error(exc)
    return check, "passed", passed


def _refusal(probe: Callable[[], Any]) -> str | None:
    """The TypeError with which a component refuses the synthetic inputs (the interfaces' way), if any."""
    try:
        probe()
    except TypeError as exc:
        return _error(exc)
    except Exception:
        return None  # not a refusal: the check itself reports it
    return None


def _not_for_synthetic(kind: str, name: str, refusal: str, check: str) -> Outcome:
    return (
        "conformance",
        "not checked",
        f"it refuses the synthetic inputs with {refusal}; pass examples={{({kind!r}, {name!r}): "
        f"Example(check={{{check}}})}} with inputs of its domain",
    )


def search_outcomes(
    search: ReferenceSearch,
    name: str,
    example: Example | None,
    case: Callable[[], SyntheticCase],
    *,
    invariance_rows: int,
) -> list[Outcome]:
    from deepaid_sdk import component_checks as testing

    if example is not None and example.check is not None:
        kwargs = example.check
        return [_run("check_search", lambda: testing.check_search(search, **kwargs), "on the example's inputs")]
    world = case()
    x, constraints = world.anomalies, list(world.constraints)
    refused = _refusal(lambda: search.search(world.adapter, x[:1], constraints))
    if refused:
        return [_not_for_synthetic("searches", name, refused, "'adapter': ..., 'anomalies': ..., 'constraints': [...]")]
    return [
        _run(
            "check_search",
            lambda: testing.check_search(search, world.adapter, x, constraints, batch_rows=0),
            f"on {world.describe()}",
        ),
        _run(
            "check_batch_invariance",
            lambda: testing.check_batch_invariance(search, world.adapter, x, constraints, rows=invariance_rows),
            f"each alert alone and among {invariance_rows} rows",
        ),
    ]


def constraint_outcomes(
    constraint: Constraint, name: str, example: Example | None, case: Callable[[], SyntheticCase], **_: Any
) -> list[Outcome]:
    from deepaid_sdk import component_checks as testing

    if example is not None and example.check is not None:
        kwargs = example.check
        return [
            _run("check_constraint", lambda: testing.check_constraint(constraint, **kwargs), "on the example's inputs")
        ]
    world = case()
    x = world.anomalies
    refused = _refusal(lambda: constraint.bind(world.adapter, L2Distance()).satisfied(x[:1], x[:1]))
    if refused:
        return [_not_for_synthetic("constraints", name, refused, "'sample_shape': ..., 'refs': ..., 'anomalies': ...")]
    return [
        _run(
            "check_constraint",
            lambda: testing.check_constraint(constraint, (WIDTH,), adapter=world.adapter),
            f"on random [8, {WIDTH}] rows, bound to the synthetic detector",
        )
    ]


def distance_outcomes(
    distance: Distance, name: str, example: Example | None, case: Callable[[], SyntheticCase], **_: Any
) -> list[Outcome]:
    from deepaid_sdk import component_checks as testing

    if example is not None and example.check is not None:
        kwargs = example.check
        return [_run("check_distance", lambda: testing.check_distance(distance, **kwargs), "on the example's inputs")]
    x = case().anomalies
    refused = _refusal(lambda: distance(x[:1], x[1:2]))
    if refused:
        return [_not_for_synthetic("distances", name, refused, "'sample_shape': ..., 'a': ..., 'b': ..., 'c': ...")]

    def both() -> None:
        testing.check_distance(distance, (WIDTH,))
        testing.check_distance(distance, (2, 3))

    return [_run("check_distance", both, f"on random [8, {WIDTH}] and [8, 2, 3] rows (a metric: triangle inequality)")]


def adapter_outcomes(
    adapter: ModelAdapter, name: str, example: Example | None, case: Callable[[], SyntheticCase], **_: Any
) -> list[Outcome]:
    from deepaid_sdk import component_checks as testing

    kwargs = example.check if example is not None and example.check is not None else {"batch": case().anomalies}
    return [_run("check_adapter", lambda: testing.check_adapter(adapter, **kwargs), "on the example's batch")]


#: The check of each kind that has one.
RUNNERS: dict[str, Callable[..., list[Outcome]]] = {
    "searches": search_outcomes,
    "constraints": constraint_outcomes,
    "distances": distance_outcomes,
    "adapters": adapter_outcomes,
}


def _binds(factory: Any, *args: Any, **kwargs: Any) -> bool | None:
    signature = _signature(factory)
    if signature is None:
        return None
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


#: How the host calls a component of each kind, where that is fixed: (args, kwargs, who calls it so).
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any], str]] = {
    "interpreters": ((), {"model": object()}, "deepaid_sdk.create('NAME', model=...) calls factory(model=...)"),
    "demos": ((pathlib.Path("out"),), {}, "`deepaid demo NAME` calls run(out_dir)"),
    "benchmarks": (
        (),
        {"n": None, "seed": 0, "device": "cpu", "out": pathlib.Path("out")},
        "`deepaid bench NAME` calls run(n=, seed=, device=, out=)",
    ),
}


def registration_checked(comp: Component) -> str:
    """What ``registration_problems`` looks at for ``comp``, for the report of a passed registration."""
    parts = ["a name", "a callable factory", "a docstring line for `deepaid plugins`"]
    if comp.kind in NAMED_KINDS and isinstance(comp.factory, type) and getattr(comp.factory, "name", None):
        parts.append("its class's name")
    if comp.kind in CALLS:
        parts.append(CALLS[comp.kind][2].replace("NAME", comp.name))
    if comp.kind == "explain_inputs":
        parts.append("a preset of its name")
    return ", ".join(parts)


def registration_problems(comp: Component, reg: Registry) -> list[str]:
    """What is wrong with how ``comp`` was registered: its name, factory, docstring and call signature."""
    problems = []
    if not isinstance(comp.name, str) or not comp.name.strip():
        problems.append(f"name: expected a non-empty string; got {comp.name!r}")
    elif comp.name != comp.name.strip():
        problems.append(f"name {comp.name!r} has leading or trailing spaces; a command line cannot ask for it")
    if not callable(comp.factory):
        problems.append(f"factory: expected a callable; got {comp.factory!r}")
    elif not comp.describe():
        problems.append(
            f"factory {getattr(comp.factory, '__qualname__', comp.factory)!r} has no docstring: "
            f"`deepaid plugins` shows its first line as the description"
        )
    own = getattr(comp.factory, "name", None) if isinstance(comp.factory, type) else None
    if comp.kind in NAMED_KINDS and isinstance(own, str) and own and own != comp.name:
        problems.append(
            f"registered as {comp.name!r} but {comp.factory.__name__}.name is {own!r}: results and "
            f"saved rules record {own!r}, a name the registry does not know"
        )
    if comp.kind in CALLS and callable(comp.factory):
        args, kwargs, caller = CALLS[comp.kind]
        # A lazy factory is checked by what it loads; a preset by its build function.
        called = comp.factory.load() if isinstance(comp.factory, Lazy) else getattr(comp.factory, "build", comp.factory)
        if _binds(called, *args, **kwargs) is False:
            problems.append(
                f"{caller.replace('NAME', comp.name)}; its signature {_signature(called)} cannot be called so"
            )
    if comp.kind == "explain_inputs" and comp.name not in reg.names("interpreters"):
        problems.append(
            f"an explain input is looked up by its preset's name, and no preset is called "
            f"{comp.name!r}; presets: {', '.join(reg.names('interpreters')) or 'none'}"
        )
    return problems
