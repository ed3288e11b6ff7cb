"""What ``create(constraints=...)`` accepts, made uniform before the registry builds it; and the usual
constraint set built from a preset's keyword options (``build_constraints``).

An item of ``constraints`` is a ``Constraint`` instance, a registered name that needs no options, or a
``(name, options)`` pair. A JSON list ``[name, {options}]`` (JSON has no tuples: ``--option
'constraints=[["decrease-only", {"dims": ["bytes"]}]]'``) counts as that pair, and one bare name may stand
for the whole list. Feature indices in the options ``dims`` (a list) and ``groups`` (a list of lists) may be
column names where the interpreter knows the feature names (the tabular preset's ``features=``, the file
job's columns); they become indices of the flattened sample here.
"""

from __future__ import annotations

from typing import Any, Sequence

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.constraints import Constraint
from deepaid_sdk.registry import Registry, RegistryError, registry

#: Options whose values are feature indices (a list) or groups of them (a list of lists).
INDEX_OPTIONS = ("dims",)
GROUP_OPTIONS = ("groups",)


def feature_index(value: Any, names: Sequence[str] | None, where: str) -> Any:
    """A feature index as given, or the position of a column name in ``names``; a ValueError otherwise."""
    if not isinstance(value, str):
        return value
    if names is None:
        raise ValueError(
            f"{where}: {value!r} is a column name, but this interpreter knows no feature names; "
            "pass indices, or give the names (features=[...] in the tabular preset, or a file with a "
            "header to deepaid explain)"
        )
    try:
        return list(names).index(value)
    except ValueError:
        raise ValueError(f"{where}: no feature named {value!r}; features: {list(names)}") from None


def feature_indices_by_name(values: Any, names: Sequence[str] | None, where: str) -> Any:
    """``values`` (a list of indices and/or names) with names replaced by indices; anything else as given."""
    if isinstance(values, (list, tuple)) and any(isinstance(v, str) for v in values):
        return [feature_index(v, names, f"{where}[{i}]") for i, v in enumerate(values)]
    return values


def _resolve_options(options: dict[str, Any], names: Sequence[str] | None, where: str) -> dict[str, Any]:
    out = dict(options)
    for key in INDEX_OPTIONS:
        if key in out:
            out[key] = feature_indices_by_name(out[key], names, f"{where}.{key}")
    for key in GROUP_OPTIONS:
        if key in out and isinstance(out[key], (list, tuple)):
            out[key] = [feature_indices_by_name(g, names, f"{where}.{key}[{j}]") for j, g in enumerate(out[key])]
    return out


def constraint_specs(value: Any, feature_names: Sequence[str] | None = None) -> list[Any]:
    """Each item of ``constraints`` as an instance, a name or a ``(name, options)`` tuple, names resolved."""
    if value is None:
        return []
    if isinstance(value, (str, Constraint)) or _is_pair(value):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f"constraints: expected a list of constraints (instances, names or [name, options] pairs); "
            f"got {type(value).__name__}: {value!r}"
        )
    out: list[Any] = []
    for i, item in enumerate(value):
        where = f"constraints[{i}]"
        if isinstance(item, (str, Constraint)):
            out.append(item)
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            if not isinstance(item[1], dict):
                raise TypeError(
                    f"{where}: expected options as a dict (JSON object) after the name {item[0]!r}; "
                    f"got {type(item[1]).__name__}: {item[1]!r}"
                )
            out.append((item[0], _resolve_options(item[1], feature_names, f"{where} {item[0]!r}")))
        else:
            raise TypeError(
                f"{where}: expected a Constraint, a registered constraint name or a [name, options] "
                f"pair; got {type(item).__name__}: {item!r}"
            )
    return out


def _is_pair(value: Any) -> bool:
    """``(name, options)`` / ``[name, {options}]`` given alone, not inside a list."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], dict)
    )


def build_constraints(
    *,
    k: int | None = None,
    lam: float | None = None,
    eps: float | None = None,
    box: tuple[Any, Any] | None = None,
    integer: Sequence[int] | None = None,
    frozen: Sequence[int] | None = None,
    onehot: Sequence[Sequence[int]] | None = None,
    extra: Sequence[Any] = (),
    reg: Registry | None = None,
    feature_names: Sequence[str] | None = None,
) -> list[Constraint]:
    """The usual constraint set from keyword options, each built through the registry by name.

    ``extra`` takes what ``create(constraints=...)`` does (``deepaid_sdk.constraint_specs``); with
    ``feature_names``, ``integer``, ``frozen``, ``onehot`` and the ``dims``/``groups`` options of ``extra``
    may name columns instead of giving indices.
    """
    reg = reg or registry()
    integer = feature_indices_by_name(integer, feature_names, "integer")
    frozen = feature_indices_by_name(frozen, feature_names, "frozen")
    if onehot is not None:
        onehot = [feature_indices_by_name(g, feature_names, f"onehot[{j}]") for j, g in enumerate(onehot)]
    out: list[Constraint] = [reg.build("constraints", "fidelity", Constraint, **({} if eps is None else {"eps": eps}))]
    out.append(reg.build("constraints", "stability", Constraint, **({} if lam is None else {"lam": lam})))
    if k is not None:
        out.append(reg.build("constraints", "conciseness", Constraint, k=check_positive_int(k, "k")))
    if box is not None:
        if not (isinstance(box, (tuple, list)) and len(box) == 2):
            raise TypeError(f"box: expected a (low, high) pair; got {box!r}")
        out.append(reg.build("constraints", "box", Constraint, low=box[0], high=box[1]))
    if integer is not None:
        out.append(reg.build("constraints", "integer", Constraint, dims=integer))
    if frozen is not None:
        out.append(reg.build("constraints", "frozen", Constraint, dims=frozen))
    if onehot is not None:
        out.append(reg.build("constraints", "onehot", Constraint, groups=onehot))
    out.extend(user_constraints(extra, feature_names, reg))
    return out


def user_constraints(
    value: Any, feature_names: Sequence[str] | None = None, reg: Registry | None = None
) -> list[Constraint]:
    """What ``create(constraints=...)`` was given, built; errors name ``constraints[i]`` as the user wrote it."""
    reg = reg or registry()
    out: list[Constraint] = []
    for i, spec in enumerate(constraint_specs(value, feature_names)):
        try:
            out.append(reg.build("constraints", spec, Constraint))
        except RegistryError as exc:
            raise RegistryError(f"constraints[{i}]: {exc}") from None
        except TypeError as exc:
            raise TypeError(f"constraints[{i}]: {exc}") from None
    return out


def check_k(k: int | None, width: int | None) -> int | None:
    """``k`` within ``[1, width]``; a clear error naming both otherwise."""
    if k is None:
        return None
    k = check_positive_int(k, "k")
    if width is not None and k > width:
        raise ValueError(f"k: expected at most the number of features ({width}); got {k}")
    return k
