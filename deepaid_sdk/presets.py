"""``create(name, model=..., **options)``: look a preset up, check its options, build its interpreter,
and settle the feature schema it explains with."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepaid_sdk.checks import table_array, table_columns, table_select
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.preset_options import Preset
from deepaid_sdk.registry import registry
from deepaid_sdk.schema import FeatureSchema, warn_extra


def preset(name: str) -> Preset:
    """The registered preset ``name``: its build function and its declared options."""
    found = registry().get("interpreters", name).factory
    assert isinstance(found, Preset)  # the registry keeps interpreters as Presets
    return found


def preset_factory(name: str) -> Any:
    """The build function of preset ``name`` (``help()`` on it shows the preset's documentation)."""
    return preset(name).build


def preset_options(name: str) -> dict[str, str]:
    """The options of preset ``name`` and their defaults, as text."""
    return preset(name).defaults()


def create(name: str, model: Any = None, *, schema: Any = None, **options: Any) -> Interpreter:
    """Build the interpreter preset ``name`` for ``model``; options go to the preset.

    Presets: ``gradient`` (any score model or ``ModelAdapter``) is built in; plugins add ``tabular``,
    ``kitsune``, ``deeplog``, ``multits``, ``glgv``... ``deepaid plugins`` lists every preset with its
    options, and ``help(preset_factory(name))`` shows one preset's documentation.

    Options most presets share:

    - ``threshold``: the alert threshold (a number); or ``normal=`` rows to calibrate it (``percentile``).
    - ``k``: at most this many features change (at most the number of features).
    - ``lam``: weight of the distance to the anomaly; ``eps``: margin below the threshold.
    - ``box=(low, high)``, ``integer=[dims]``, ``frozen=[dims]``, ``onehot=[[dims], ...]``: validity.
    - ``constraints=[...]``: more constraints, each a ``Constraint``, a registered name that takes no
      options, or a ``(name, options)`` pair: ``constraints=[("box", {"low": 0, "high": 1})]``,
      ``constraints=[("grid", {"dims": [3], "step": 0.5})]``.
    - ``distance``: a registered distance name (``l2``, ``l1``, ``linf``, ``l0``, ``hamming``...).
    - ``search``, ``search_options``: the reference search and its options (``seed``, ``steps``, ``lr``...).

    - ``schema``: the feature names in the model's order (a list, a ``FeatureSchema`` or its JSON
      file). Without it the schema comes from ``features=`` names, a fitted estimator's
      ``feature_names_in_``, or the columns of a DataFrame / Arrow table given as ``normal=``; tables
      given to ``interpret_batch`` are then matched to it by name (see ``deepaid_sdk.schema``).

    Example::

        interp = deepaid_sdk.create("tabular", model=autoencoder, normal=X_train, k=5)
        print(interp.interpret(x_alert).table())
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a preset name (str); got {type(name).__name__}")
    if model is None:
        raise ValueError(f"model: create({name!r}, model=...) needs the detector to explain")
    recipe = preset(name)
    recipe.check(options, name)
    chosen = _given_schema(schema, options.get("features"), model)
    normal = options.get("normal")
    if table_columns(normal) is not None:
        options["normal"], chosen = _normal_array(normal, chosen)
    if chosen is not None and "feature_names" not in options and recipe.option("feature_names") is not None:
        options["feature_names"] = list(chosen.names)  # constraints may then name columns
    interpreter = recipe(model=model, **options)
    if not isinstance(interpreter, Interpreter):
        raise TypeError(f"preset {name!r} returned {type(interpreter).__name__}, not an Interpreter")
    names = getattr(interpreter, "feature_names", None)
    if chosen is None and names:
        chosen = FeatureSchema.from_columns(names, "features")
    elif (
        chosen is not None
        and names
        and tuple(names) != chosen.names
        and table_columns(normal) is not None
        and set(names) == set(chosen.names)
    ):
        # ``features=`` (a file) names the columns in another order than the normal table: rebuild.
        chosen = FeatureSchema.from_columns(names, "features")
        options["normal"], chosen = _normal_array(normal, chosen)
        interpreter = recipe(model=model, **options)
    if chosen is not None:
        _check_schema_width(chosen, interpreter.adapter)
        interpreter.schema = chosen
    return interpreter


def _given_schema(schema: Any, features: Any, model: Any) -> FeatureSchema | None:
    """The schema ``create`` is told: ``schema=``, else ``features=`` names, else ``feature_names_in_``."""
    if schema is not None:
        return FeatureSchema.of(schema, "schema")
    names = getattr(features, "names", features)
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        return FeatureSchema.from_columns(names, "features")
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and len(fitted):
        return FeatureSchema.from_columns(list(fitted), "the estimator's feature_names_in_")
    return None


def _normal_array(normal: Any, schema: FeatureSchema | None) -> tuple[np.ndarray, FeatureSchema]:
    """Normal rows of a DataFrame / Arrow table as an array in the schema's order (its columns set it
    where no schema is known); a missing column is a ValueError naming it, an extra one a warning."""
    columns = table_columns(normal) or []
    if schema is None:
        return table_array(normal, "normal"), FeatureSchema.from_columns(columns, "normal's columns")
    warn_extra(schema.check(columns, "normal"), "normal", schema, stacklevel=4)
    return table_array(table_select(normal, schema.names), "normal"), schema


def _check_schema_width(schema: FeatureSchema, adapter: ModelAdapter) -> None:
    """As many names as the model has features in the last axis of a sample."""
    shape = adapter.sample_shape
    if shape is not None and len(shape) and int(shape[-1]) != len(schema):
        raise ValueError(
            f"schema: {len(schema)} column names ({schema.source}) for a model of {int(shape[-1])} features per sample"
        )
