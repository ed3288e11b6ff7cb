"""Interpreters: an adapter, a search, constraints and a distance wired together.

Presets registered under a name (``tabular``, ``deeplog``...) build one with domain defaults;
``create(name, model=..., **options)`` looks the preset up in the registry.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import attrs
import numpy as np
import torch

from deepaid_sdk.checks import as_tensor, check_positive_int, table_array, table_columns, table_select
from deepaid_sdk.adapters import ModelAdapter
from deepaid_sdk.blackbox_adapters import foreign_adapter
from deepaid_sdk.differentiable import choose_search
from deepaid_sdk.constraint_specs import constraint_specs, feature_indices_by_name
from deepaid_sdk.constraints import Constraint
from deepaid_sdk.distances import Distance
from deepaid_sdk.registry import Registry, RegistryError, registry
from deepaid_sdk.schema import FeatureSchema, warn_extra
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.search import ReferenceSearch, build_batch


@attrs.define(eq=False)
class Interpreter:
    """Explains alerts of one detector: ``interpret(x)`` or ``interpret_batch(X)``."""

    adapter: ModelAdapter
    search: ReferenceSearch
    constraints: tuple[Constraint, ...] = attrs.field(converter=tuple, default=())
    distance: Distance | None = None
    name: str = "custom"
    schema: FeatureSchema | None = None
    """The detector's feature names in the model's order: a table's columns are matched to it by name."""

    def __attrs_post_init__(self) -> None:
        if self.schema is not None and not isinstance(self.schema, FeatureSchema):
            self.schema = FeatureSchema.of(self.schema, "schema")
        if not isinstance(self.adapter, ModelAdapter):
            raise TypeError(f"adapter: expected a ModelAdapter; got {type(self.adapter).__name__}")
        if not isinstance(self.search, ReferenceSearch):
            raise TypeError(f"search: expected a ReferenceSearch; got {type(self.search).__name__}")

    def interpret(self, x: Any, *, strict_columns: bool = False) -> Interpretation:
        """Explain one sample (no batch dimension); the adapter converts it, so domain inputs work too.

        A pandas Series (labels are column names) or a one-row DataFrame / Arrow table is matched to the
        schema by name, as in ``interpret_batch``.
        """
        module = type(x).__module__ or ""
        if module.startswith("pandas") and hasattr(x, "to_frame") and not hasattr(x, "columns"):
            x = x.to_frame().T  # a Series: one row whose labels are the column names
        if table_columns(x) is not None:
            rows = x.num_rows if hasattr(x, "num_rows") else len(x)
            if rows != 1:
                raise ValueError(f"x: expected one row; got a table of {rows} rows (use interpret_batch)")
            return self._interpret_table(x, "x", strict_columns, stacklevel=4)[0]
        if isinstance(x, (torch.Tensor, np.ndarray)):
            t = as_tensor(x, "x")
            shape = self.adapter.sample_shape
            if shape is not None and tuple(t.shape) != tuple(shape):
                hint = " (use interpret_batch for a batch)" if t.ndim == len(shape) + 1 else ""
                raise ValueError(f"x: expected one sample of shape {list(shape)}; got {list(t.shape)}{hint}")
            width = self.adapter.input_width
            if width is not None and t.ndim >= 1 and t.shape[-1] != width:
                raise ValueError(f"x: expected {width} features (the width of the model's first layer) in the last "
                                 f"axis; got {t.shape[-1]} (shape {list(t.shape)})")
            batch: Any = t[None]
        else:
            batch = [x]
        return self.interpret_batch(batch)[0]

    def interpret_batch(self, X: Any, *, strict_columns: bool = False) -> InterpretationBatch:
        """Explain every row of ``X``; rows the detector already accepts come back unchanged and flipped.

        A pandas DataFrame or pyarrow Table is accepted; its column names become the result's
        ``feature_names``. Where the interpreter knows its ``schema``, the columns are matched to it by
        name and reordered: a missing column is a ValueError naming it, an extra one is ignored with an
        ``ExtraColumnsWarning`` naming it (a ValueError with ``strict_columns=True``). A DataFrame's index
        is kept as the result's ``index`` (``to_pandas`` uses it).
        """
        if table_columns(X) is not None:
            return self._interpret_table(X, "X", strict_columns, stacklevel=4)
        result = self._interpret_batch(X)
        if self.schema is not None and result.feature_names is None \
                and result.anomalies.shape[-1] == len(self.schema):
            result = attrs.evolve(result, feature_names=self.schema.names)
        return result

    def _interpret_table(self, X: Any, argument: str, strict: bool, stacklevel: int) -> InterpretationBatch:
        """A DataFrame or Arrow table: columns matched to the schema by name, names and index kept."""
        columns = table_columns(X) or []
        if self.schema is not None:
            warn_extra(self.schema.check(columns, argument, strict=strict), argument, self.schema, stacklevel)
            X = table_select(X, self.schema.names)
            columns = list(self.schema.names)
        result = self._interpret_batch(X)
        if result.anomalies.shape[-1] == len(columns):
            result = attrs.evolve(result, feature_names=columns)
        index = getattr(X, "index", None) if (type(X).__module__ or "").startswith("pandas") else None
        if index is not None and len(index) == len(result):
            result = attrs.evolve(result, index=index)
        return result

    def _interpret_batch(self, X: Any) -> InterpretationBatch:
        x = self.adapter.prepare(X, "X")
        self.adapter.check_model_device()
        check_budget(self.constraints, x)
        started = time.perf_counter()
        with torch.no_grad():
            scores = self.adapter.score(x)
        check_scores(scores, x.shape[0])
        with torch.no_grad():
            overridden = type(self.adapter).is_normal is not ModelAdapter.is_normal
            normal = self.adapter.is_normal(x) if overridden else scores <= self.adapter.threshold
        if not bool(normal.any()):
            return self.search.search(self.adapter, x, self.constraints, self.distance)
        normal_idx = normal.nonzero().flatten()
        parts = [(normal_idx.cpu().numpy(), build_batch(
            self.adapter, x[normal_idx], x[normal_idx], steps=np.zeros(len(normal_idx), dtype=np.int64),
            started=started, method=self.search.name, params=self.search.describe()))]
        if not bool(normal.all()):
            alert_idx = (~normal).nonzero().flatten()
            parts.append((alert_idx.cpu().numpy(),
                          self.search.search(self.adapter, x[alert_idx], self.constraints, self.distance)))
        return InterpretationBatch.merge(parts, x.shape[0])

    def describe(self) -> dict[str, Any]:
        """What this interpreter was built with, for reproducibility.

        The adapter's and the search's recorded parameters, the schema's feature names, and the names of the
        constraints and of the distance.
        """
        return {"interpreter": self.name, **self.adapter.describe(), **self.search.describe(),
                "schema": None if self.schema is None else list(self.schema.names),
                "constraints": [c.name for c in self.constraints],
                "distance": getattr(self.distance, "name", None)}


def check_budget(constraints: Sequence[Constraint], x: torch.Tensor) -> None:
    """No change budget (``k``) larger than the number of features of one sample."""
    width = int(x[0].numel())
    for c in constraints:
        k = getattr(c, "max_changes", None)
        if isinstance(k, int) and k > width:
            raise ValueError(f"k: expected at most the number of features ({width}); got {k}")


def check_scores(scores: torch.Tensor, n: int) -> None:
    """The model's scores of the rows to explain: one finite number per row."""
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (n,):
        got = list(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"model: expected one score per row, shape [{n}]; got {got}")
    if scores.is_floating_point() and not bool(torch.isfinite(scores).all()):
        bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
        raise ValueError(f"model: returned NaN or inf scores for rows {bad[:10]}{'...' if len(bad) > 10 else ''} "
                         "of X; an explanation of such a score means nothing (check the model and its inputs)")


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


def user_constraints(value: Any, feature_names: Sequence[str] | None = None,
                     reg: Registry | None = None) -> list[Constraint]:
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


def gradient_interpreter(
    model: Any,
    *,
    threshold: float | None = None,
    adapter: str = "score",
    adapter_options: dict[str, Any] | None = None,
    k: int | None = None,
    lam: float | None = None,
    eps: float | None = None,
    box: tuple[Any, Any] | None = None,
    integer: Sequence[int] | None = None,
    frozen: Sequence[int] | None = None,
    onehot: Sequence[Sequence[int]] | None = None,
    constraints: Sequence[Any] = (),
    distance: Any = "l2",
    search: Any = "auto",
    search_options: dict[str, Any] | None = None,
    sample_shape: Sequence[int] | None = None,
    normal: Any = None,
    percentile: float = 99.0,
    feature_names: Sequence[str] | None = None,
) -> Interpreter:
    """Generic preset: any ModelAdapter, a score model/function, or a non-torch detector.

    ``feature_names``: the names of the flattened sample's features, so that constraints may name columns
    (``frozen=["port"]``, ``constraints=[["decrease-only", {"dims": ["bytes"]}]]``).

    ``search="auto"``: the gradient search where the score has an input gradient, else
    ``blackbox``. sklearn/PyOD estimators and ONNX sessions (or ``.onnx`` paths) get their adapter
    from ``deepaid_sdk.blackbox_adapters``. ``normal``: normal rows; they set the threshold at
    ``percentile`` when none is given, their scores are recorded so the search aims for a
    typically-normal reference (see ``deepaid_sdk.gradient``; without them the target is a
    documented margin below the threshold), and searches that take them (``blackbox``) get them.
    """
    reg = registry()
    if isinstance(model, ModelAdapter):
        if threshold is not None:
            model.threshold = threshold
        model_adapter = model
    else:
        options = dict(adapter_options or {})
        if sample_shape is not None:
            options["sample_shape"] = sample_shape
        foreign = None
        if adapter == "score":  # sklearn/PyOD estimator or ONNX model: no torch module to wrap
            foreign = foreign_adapter(model, threshold, sample_shape=options.get("sample_shape"),
                                      eps=options.get("eps", 0.0))
        model_adapter = foreign if foreign is not None else reg.build(
            "adapters", adapter, ModelAdapter, model=model, threshold=threshold, **options)
    if normal is not None:
        if threshold is None and not model_adapter.has_threshold:
            model_adapter.calibrate(normal, percentile)
        else:
            model_adapter.observe_normal(normal)
    width = int(np.prod(model_adapter.sample_shape)) if model_adapter.sample_shape is not None else None
    if search == "auto":
        search = choose_search(model_adapter, normal)
    search_options = dict(search_options or {})
    if normal is not None and search == "blackbox":
        search_options.setdefault("normal", normal)
    return Interpreter(
        adapter=model_adapter,
        search=reg.build("searches", search, ReferenceSearch, **search_options),
        constraints=build_constraints(k=check_k(k, width), lam=lam, eps=eps, box=box, integer=integer,
                                      frozen=frozen, onehot=onehot, extra=constraints, reg=reg,
                                      feature_names=feature_names),
        distance=reg.build("distances", distance, Distance),
        name="gradient",
    )


def preset_factory(name: str) -> Any:
    """The factory of the interpreter preset ``name`` (its docstring lists the preset's options)."""
    return registry().get("interpreters", name).factory


def preset_options(name: str) -> dict[str, str]:
    """The options of preset ``name`` and their defaults, as text (``model`` excluded)."""
    import inspect

    params = inspect.signature(preset_factory(name)).parameters
    return {p.name: ("required" if p.default is inspect.Parameter.empty else repr(p.default))
            for p in params.values() if p.name != "model" and p.kind is not inspect.Parameter.VAR_KEYWORD}


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
    factory = registry().get("interpreters", name).factory
    chosen = _given_schema(schema, options.get("features"), model)
    normal = options.get("normal")
    if table_columns(normal) is not None:
        options["normal"], chosen = _normal_array(normal, chosen)
    if chosen is not None and "feature_names" not in options and _takes(factory, "feature_names"):
        options["feature_names"] = list(chosen.names)  # constraints may then name columns
    interpreter = factory(model=model, **options)
    if not isinstance(interpreter, Interpreter):
        raise TypeError(f"preset {name!r} returned {type(interpreter).__name__}, not an Interpreter")
    names = getattr(interpreter, "feature_names", None)
    if chosen is None and names:
        chosen = FeatureSchema.from_columns(names, "features")
    elif chosen is not None and names and tuple(names) != chosen.names and table_columns(normal) is not None \
            and set(names) == set(chosen.names):
        # ``features=`` (a file) names the columns in another order than the normal table: rebuild.
        chosen = FeatureSchema.from_columns(names, "features")
        options["normal"], chosen = _normal_array(normal, chosen)
        interpreter = factory(model=model, **options)
    if chosen is not None:
        _check_schema_width(chosen, interpreter.adapter)
        interpreter.schema = chosen
    return interpreter


def _takes(factory: Any, name: str) -> bool:
    """The preset factory has a parameter ``name``."""
    import inspect

    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


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
        raise ValueError(f"schema: {len(schema)} column names ({schema.source}) for a model of "
                         f"{int(shape[-1])} features per sample")
