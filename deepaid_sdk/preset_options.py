"""A preset's options, declared: a typed, frozen record that ``create()``, ``deepaid plugins``, the
``--option`` parsing of ``deepaid explain``, the docs and the explain job all read.

A preset registers a ``Preset``: its build function and the ``Option`` records it takes. The record
is the contract; ``Preset`` checks at registration that the build function takes exactly those
keywords, so the two cannot drift. An unknown option is an error naming the preset and listing what
it takes, before any work is done.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Iterable, Mapping

import attrs


class _Required:
    """The default of an option that must be given."""

    def __repr__(self) -> str:
        return "required"


#: The default of an option that must be given.
REQUIRED: Any = _Required()

#: What the explain job may fill in for an option the user did not give (``Option.fill``).
FILLS = ("columns", "width", "normal", "percentile")


def _fill(_: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and value not in FILLS:
        raise ValueError(f"{attribute.name}: expected one of {FILLS} or None; got {value!r}")


@attrs.frozen
class Option:
    """One keyword option of a preset."""

    name: str
    default: Any = REQUIRED
    type: str = "any"
    """What it takes, as users read it (``float``, ``int``, ``rows``, ``list of names``...)."""
    doc: str = ""
    fill: str | None = attrs.field(default=None, validator=_fill)
    """What ``deepaid explain`` passes when the user gave none: the input's column names (``columns``),
    their count (``width``), the ``--normal`` rows (``normal``) or ``--percentile`` (``percentile``)."""

    def but(self, **changes: Any) -> Option:
        """This option with another default, doc or fill (a preset's own take on a shared option)."""
        return attrs.evolve(self, **changes)

    def describe(self) -> dict[str, Any]:
        """JSON-safe: name, type, default (as text), doc."""
        return {"name": self.name, "type": self.type, "default": repr(self.default), "doc": self.doc}


def _options(value: Iterable[Option]) -> tuple[Option, ...]:
    options = tuple(value)
    for i, option in enumerate(options):
        if not isinstance(option, Option):
            raise TypeError(f"options[{i}]: expected an Option; got {type(option).__name__}")
    names = [o.name for o in options]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"options: declared more than once: {twice}")
    if "model" in names:
        raise ValueError("options: 'model' is create()'s own argument, not an option")
    return options


def _keywords(build: Callable[..., Any]) -> tuple[set[str], bool]:
    """The keyword parameters of ``build`` (``model`` aside) and whether it takes ``**options``."""
    params = inspect.signature(build).parameters.values()
    names = {
        p.name
        for p in params
        if p.name != "model" and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


@attrs.frozen
class Preset:
    """A named way to build an ``Interpreter``: ``build(model=..., **options)`` and the options it takes."""

    build: Callable[..., Any] = attrs.field(eq=False)
    options: tuple[Option, ...] = attrs.field(converter=_options)
    doc: str = ""
    """One line for ``deepaid plugins`` (default: the first line of ``build``'s docstring)."""
    open_ended: bool = False
    """Takes options beyond those declared (a bare function with ``**options``, registered the old way)."""

    def __attrs_post_init__(self) -> None:
        if not callable(self.build):
            raise TypeError(f"build: expected a callable; got {type(self.build).__name__}")
        if not self.doc:
            lines = (inspect.getdoc(self.build) or "").strip().splitlines()
            object.__setattr__(self, "doc", lines[0] if lines else "")
        try:
            takes, any_keyword = _keywords(self.build)
        except (TypeError, ValueError):  # no signature (a builtin): the declaration stands alone
            return
        declared = {o.name for o in self.options}
        missing = [] if any_keyword or self.open_ended else sorted(declared - takes)
        undeclared = sorted(takes - declared)
        if missing or undeclared:
            raise ValueError(
                f"options: the declaration of {getattr(self.build, '__qualname__', self.build)!r} "
                f"does not match its keywords: declared but not taken {missing}, taken but not "
                f"declared {undeclared}"
            )

    @classmethod
    def of(cls, factory: Any, name: str) -> Preset:
        """A registered interpreter factory as a ``Preset``: a ``Preset`` as is; a bare function's options
        read from its signature once (deprecated: declare them)."""
        if isinstance(factory, Preset):
            return factory
        warnings.warn(
            f"preset {name!r} is registered as a bare function; register a deepaid_sdk.Preset that "
            "declares its options (deepaid_sdk.preset_options)",
            DeprecationWarning,
            stacklevel=3,
        )
        try:
            params = list(inspect.signature(factory).parameters.values())
        except (TypeError, ValueError):
            params = []
        options = [
            Option(p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for p in params
            if p.name != "model" and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        try:
            open_ended = _keywords(factory)[1]
        except (TypeError, ValueError):
            open_ended = True
        return cls(factory, options, open_ended=open_ended)

    def __call__(self, model: Any = None, **options: Any) -> Any:
        return self.build(model=model, **options)

    @property
    def names(self) -> tuple[str, ...]:
        """The declared options' names, in order."""
        return tuple(o.name for o in self.options)

    def option(self, name: str) -> Option | None:
        """The declared option ``name``, or None."""
        return next((o for o in self.options if o.name == name), None)

    def filled(self, fill: str) -> Option | None:
        """The option the explain job fills with ``fill`` (``columns``, ``width``...), or None."""
        return next((o for o in self.options if o.fill == fill), None)

    def check(self, options: Mapping[str, Any], preset: str, *, where: str = "create") -> None:
        """Every key of ``options`` is declared; else a TypeError naming the preset and what it takes."""
        if self.open_ended:
            return
        unknown = sorted(k for k in options if self.option(k) is None)
        if unknown:
            raise TypeError(
                f"{where}: the {preset} preset has no option {', '.join(map(repr, unknown))}; it takes "
                f"{', '.join(self.names) or 'none'} (see `deepaid plugins`)"
            )

    def defaults(self) -> dict[str, str]:
        """Option name -> its default as text (``required`` where it has none)."""
        return {o.name: repr(o.default) for o in self.options}


# -- options most presets share: a preset takes the ones it has, with ``but()`` where its default differs --

#: The shared ``threshold`` option.
THRESHOLD = Option("threshold", None, "float", "the alert threshold; or give normal rows to calibrate it")
#: The shared ``normal`` option.
NORMAL = Option(
    "normal",
    None,
    "rows",
    "normal rows: calibrate the threshold at percentile (unless given) and "
    "record the normal scores the search aims for",
    fill="normal",
)
#: The shared ``percentile`` option.
PERCENTILE = Option(
    "percentile", 99.0, "float", "percentile of the normal scores that becomes the threshold", fill="percentile"
)
#: The shared ``k`` option.
K = Option("k", None, "int", "at most this many features change")
#: The shared ``lam`` option.
LAM = Option("lam", None, "float", "weight of the distance to the anomaly (stability)")
#: The shared ``eps`` option.
EPS = Option("eps", None, "float", "margin below the threshold the reference must reach")
#: The shared ``box`` option.
BOX = Option("box", None, "[low, high]", "bounds of every feature")
#: The shared ``integer`` option.
INTEGER = Option("integer", None, "list of features", "features that stay whole numbers")
#: The shared ``frozen`` option.
FROZEN = Option("frozen", None, "list of features", "features that never change")
#: The shared ``onehot`` option.
ONEHOT = Option("onehot", None, "list of feature groups", "groups of features that stay one-hot")
#: The shared ``constraints`` option.
CONSTRAINTS = Option("constraints", (), "list", "more constraints: Constraint objects, names or [name, {options}]")
#: The shared ``distance`` option.
DISTANCE = Option("distance", "l2", "name", "a registered distance (l2, l1, linf, l0, hamming...)")
#: The shared ``search`` option.
SEARCH = Option(
    "search", "auto", "name", "the reference search ('auto': gradient where the score has one, else blackbox)"
)
#: The shared ``search_options`` option.
SEARCH_OPTIONS = Option("search_options", None, "dict", "options of the search (seed, steps, lr...)")
#: The shared ``feature_names`` option.
FEATURE_NAMES = Option(
    "feature_names", None, "list of names", "names of the features, so constraints may name columns", fill="columns"
)
#: The shared ``device`` option.
DEVICE = Option("device", None, "str", "torch device of the model (default: where its parameters are)")
#: The shared ``seed`` option.
SEED = Option("seed", 0, "int", "seed of the search's start noise")
