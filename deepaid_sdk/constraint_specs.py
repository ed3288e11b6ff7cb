"""What ``create(constraints=...)`` accepts, made uniform before the registry builds it.

An item of ``constraints`` is a ``Constraint`` instance, a registered name that needs no options, or a
``(name, options)`` pair. A JSON list ``[name, {options}]`` (JSON has no tuples: ``--option
'constraints=[["decrease-only", {"dims": ["bytes"]}]]'``) counts as that pair, and one bare name may stand
for the whole list. Feature indices in the options ``dims`` (a list) and ``groups`` (a list of lists) may be
column names where the interpreter knows the feature names (the tabular preset's ``features=``, the file
job's columns); they become indices of the flattened sample here.
"""

from __future__ import annotations

from typing import Any, Sequence

#: Options whose values are feature indices (a list) or groups of them (a list of lists).
INDEX_OPTIONS = ("dims",)
GROUP_OPTIONS = ("groups",)


def feature_index(value: Any, names: Sequence[str] | None, where: str) -> Any:
    """A feature index as given, or the position of a column name in ``names``; a ValueError otherwise."""
    if not isinstance(value, str):
        return value
    if names is None:
        raise ValueError(f"{where}: {value!r} is a column name, but this interpreter knows no feature names; "
                         "pass indices, or give the names (features=[...] in the tabular preset, or a file with a "
                         "header to deepaid explain)")
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
    from deepaid_sdk.constraints import Constraint

    if value is None:
        return []
    if isinstance(value, (str, Constraint)) or _is_pair(value):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"constraints: expected a list of constraints (instances, names or [name, options] pairs); "
                        f"got {type(value).__name__}: {value!r}")
    out: list[Any] = []
    for i, item in enumerate(value):
        where = f"constraints[{i}]"
        if isinstance(item, (str, Constraint)):
            out.append(item)
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            if not isinstance(item[1], dict):
                raise TypeError(f"{where}: expected options as a dict (JSON object) after the name {item[0]!r}; "
                                f"got {type(item[1]).__name__}: {item[1]!r}")
            out.append((item[0], _resolve_options(item[1], feature_names, f"{where} {item[0]!r}")))
        else:
            raise TypeError(f"{where}: expected a Constraint, a registered constraint name or a [name, options] "
                            f"pair; got {type(item).__name__}: {item!r}")
    return out


def _is_pair(value: Any) -> bool:
    """``(name, options)`` / ``[name, {options}]`` given alone, not inside a list."""
    return (isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], dict))
