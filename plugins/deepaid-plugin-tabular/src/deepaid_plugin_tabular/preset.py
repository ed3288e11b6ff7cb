"""The ``tabular`` interpreter preset: an autoencoder (or score model) on feature vectors.

``deepaid_sdk.create("tabular", model=ae, threshold=t, k=10)`` or
``create("tabular", model=ae, normal=X_train, percentile=99)`` wires the core gradient search
with fidelity, stability and conciseness, plus box / integer / frozen constraints from the
feature metadata, and defaults calibrated from the width, the data's scale and the threshold.
"""

from __future__ import annotations

import inspect
import os
import pathlib
from typing import Any, Callable, Sequence

import attrs
import numpy as np

from deepaid_plugin_tabular.adapters import OutputSelector, tabular_adapter
from deepaid_plugin_tabular.calibration import (  # noqa: F401  # re-exported: the preset's defaults
    DEFAULT_STEPS,
    MAX_DEFAULT_K,
    MIXED_UNITS_RATIO,
    NORMAL_BOX_MARGIN,
    SCORE_ONLY_DESCENT,
    SPREAD_PER_THRESHOLD,
    Calibration,
    calibrate,
    data_scale,
    feature_scale,
    normal_box,
)
from deepaid_plugin_tabular.constraints import affine_of, model_constraints
from deepaid_plugin_tabular.features import FeatureSpec
from deepaid_sdk.checks import as_tensor, check_finite_number, check_positive_int
from deepaid_sdk.constraint_specs import build_constraints, check_k, user_constraints
from deepaid_sdk.constraints import BoxConstraint
from deepaid_sdk.distances import Distance
from deepaid_sdk.interpreter import Interpreter, TableView
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.model.differentiable import choose_search
from deepaid_sdk.model.foreign import foreign_adapter
from deepaid_sdk.normal import NormalData, prepare_normal
from deepaid_sdk.preset_options import (
    CONSTRAINTS,
    DEVICE,
    DISTANCE,
    EPS,
    LAM,
    NORMAL,
    PERCENTILE,
    SEARCH,
    SEARCH_OPTIONS,
    SEED,
    THRESHOLD,
    K,
    Option,
    Preset,
)
from deepaid_sdk.registry import registry
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.search import ReferenceSearch


@attrs.define(eq=False)
class TabularInterpreter(Interpreter):
    """An ``Interpreter`` that also knows the feature names and the scaler back to original units."""

    features: FeatureSpec | None = None
    scaler: Any = None
    """Object with ``inverse_transform`` from model units to original units, or None."""
    calibration: Calibration | None = None

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        return None if self.features is None else self.features.names

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Rows in original units (identity without a scaler)."""
        return x if self.scaler is None else np.asarray(self.scaler.inverse_transform(np.asarray(x, dtype=np.float64)))

    def table_view(self, result: Interpretation | InterpretationBatch) -> TableView:
        """Features named by the spec and shown in original units (through the scaler)."""
        return TableView(self.feature_names, None if self.scaler is None else self.inverse)

    def plot(self, result: Interpretation, path: str | os.PathLike, *, original: bool = True) -> pathlib.Path:
        """Bar chart anomaly vs reference of one result (needs matplotlib: the ``plot`` extra).

        In original units (through the scaler), as ``table`` prints them; features of very different
        magnitudes get a panel each. ``original=False`` draws the scaled values the model reads.
        """
        from deepaid_sdk.results.plotting import plot_interpretation

        if self.scaler is None:  # the model reads the user's values: their units are not known here
            return plot_interpretation(result, path, self.feature_names)
        if original:
            return plot_interpretation(result, path, self.feature_names, self.inverse)
        return plot_interpretation(result, path, self.feature_names, scaled=True)

    def heatmap(
        self,
        batch: InterpretationBatch,
        path: str | os.PathLike,
        *,
        ids: Sequence[Any] | np.ndarray | None = None,
        normal: Any = None,
    ) -> pathlib.Path:
        """Heat map of reference minus anomaly over a batch (needs matplotlib), rows named by ``ids``.

        Each feature's change is shown in standard deviations of the ``normal`` rows (model input
        rows, as given to ``create``) when given, else of the feature over the shown alerts.
        """
        from deepaid_sdk.results.plotting import plot_heatmap

        inverse = None if self.scaler is None else self.inverse
        return plot_heatmap(batch, path, self.feature_names, inverse, ids=ids, normal=normal)

    def describe(self) -> dict[str, Any]:
        extra = {"calibration": attrs.asdict(self.calibration)} if self.calibration is not None else {}
        return {**super().describe(), **extra}


def _features(features: Any, width: int) -> FeatureSpec | None:
    if features is None:
        return None
    if isinstance(features, FeatureSpec):
        spec = features
    elif isinstance(features, (str, os.PathLike)):
        spec = FeatureSpec.from_csv(features)
    elif isinstance(features, Sequence):
        spec = FeatureSpec.from_lists(features)
    else:
        raise TypeError(
            f"features: expected a FeatureSpec, a list of names or a CSV path; got {type(features).__name__}"
        )
    spec.check_width(width, "features")
    return spec


def _accepted(factory: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """Options the factory takes as keywords; calibrated defaults are only offered where they fit."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {key: v for key, v in options.items() if key in params}


def _search(search: Any, options: dict[str, Any] | None, calibrated: dict[str, Any]) -> ReferenceSearch:
    """A search by name or ``(name, options)``, offered the calibrated options its factory takes."""
    if isinstance(search, tuple) and len(search) == 2 and isinstance(search[0], str) and isinstance(search[1], dict):
        search, options = search[0], {**search[1], **(options or {})}
    if isinstance(search, str):
        factory = registry().get("searches", search).factory
        built = factory(**{**_accepted(factory, calibrated), **(options or {})})
        if not isinstance(built, ReferenceSearch):
            raise TypeError(f"search: {search!r} built a {type(built).__name__}, not a ReferenceSearch")
        return built
    return registry().build("searches", search, ReferenceSearch, **(options or {}))


def _check_integer_units(spec: FeatureSpec, normal: Any, scaler: Any) -> None:
    """Integer features without a scaler must be whole numbers in the model's own input."""
    if scaler is not None or normal is None or not spec.integer.any():
        return
    x = as_tensor(normal, "normal").double().cpu().numpy().reshape(len(normal), -1)[:, spec.integer]
    off = np.flatnonzero(np.abs(x - np.round(x)).max(axis=0) > 1e-6)
    if off.size:
        names = [spec.names[i] for i in np.flatnonzero(spec.integer)[off[:3]]]
        raise ValueError(
            f"features: integer features {names} are not whole numbers in the model's input "
            "(normal rows); if the model sees scaled data pass scaler= so they stay whole in "
            "original units"
        )


def _adapter(
    model: Any, threshold: float | None, adapter: Any, width: int | None, output: OutputSelector, device: Any
) -> ModelAdapter:
    if threshold is not None:
        threshold = check_finite_number(threshold, "threshold")
    foreign = (
        foreign_adapter(model, threshold, width=width)
        if isinstance(adapter, str) and adapter in ("auto", "score") and not isinstance(model, ModelAdapter)
        else None
    )
    if isinstance(model, ModelAdapter):
        built = model
        if threshold is not None:
            built.threshold = threshold
    elif foreign is not None:
        built = foreign  # sklearn/PyOD estimator or ONNX model
    elif isinstance(adapter, str) and adapter in ("auto", "autoencoder", "score"):
        built = tabular_adapter(model, threshold, kind=adapter, width=width, output=output, device=device)
    else:
        options = {"model": model, "threshold": threshold, **({"device": device} if device is not None else {})}
        built = registry().build("adapters", adapter, ModelAdapter, **options)
    if built.sample_shape is None or len(built.sample_shape) != 1:
        raise ValueError(
            f"model: the tabular preset explains feature vectors [B, D]; the adapter's sample "
            f"shape is {built.sample_shape} (give the adapter sample_shape=(D,))"
        )
    return built


def _normal(built: ModelAdapter, threshold: float | None, normal: Any, percentile: float) -> NormalData | None:
    """The normal rows, prepared and scored once: they calibrate the threshold where none is given, and
    the typical-normal target of the search comes from their scores."""
    if threshold is None and not built.has_threshold and normal is None:
        raise ValueError("threshold: pass threshold=, or normal= (normal rows) to calibrate it at a percentile")
    return prepare_normal(built, normal, None, percentile)


def _calibration(
    d: int,
    threshold: float,
    normal: Any,
    *,
    k: int | None,
    lam: float | None,
    eps: float | None,
    lr: float | None,
    steps: int | None,
) -> Calibration:
    """The calibrated defaults (``calibrate``), overridden by the options the user gave."""
    cal = calibrate(
        d,
        threshold,
        data_scale(normal) if normal is not None else None,
        steps=DEFAULT_STEPS if steps is None else check_positive_int(steps, "steps"),
    )
    if lr is not None:
        lr = check_finite_number(lr, "lr")
    budget = check_k(cal.k if k is None else k, d)
    assert budget is not None  # cal.k is a number
    return attrs.evolve(
        cal,
        k=budget,
        lam=cal.lam if lam is None else check_finite_number(lam, "lam"),
        eps=cal.eps if eps is None else check_finite_number(eps, "eps"),
        lr=cal.lr if lr is None else lr,
    )


def _normal_box(normal: Any, scaler: Any, box_margin: float, cal: Calibration) -> tuple[BoxConstraint, Calibration]:
    """The default box from the normal rows' range, and the calibration record saying so."""
    margin = check_finite_number(box_margin, "box_margin", minimum=0.0)
    # The changes stay in range; a feature the reference leaves alone keeps the anomaly's value (see BoxConstraint).
    box = BoxConstraint(*normal_box(normal, scaler, margin), changed_only=True)
    return box, attrs.evolve(
        cal, box=f"normal rows' range widened by {margin:g} of it on each side (>= 0 where the normal rows are)"
    )


def tabular_interpreter(
    model: Any,
    *,
    threshold: float | None = None,
    normal: Any = None,
    percentile: float = 99.0,
    k: int | None = None,
    lam: float | None = None,
    eps: float | None = None,
    lr: float | None = None,
    steps: int | None = None,
    features: FeatureSpec | Sequence[str] | str | os.PathLike | None = None,
    scaler: Any = None,
    adapter: Any = "auto",
    width: int | None = None,
    output: OutputSelector = None,
    constraints: Sequence[Any] = (),
    distance: Any = "l2",
    search: Any = "auto",
    search_options: dict[str, Any] | None = None,
    seed: int = 0,
    device: Any = None,
    box_margin: float | None = NORMAL_BOX_MARGIN,
) -> TabularInterpreter:
    """Explain alerts of a tabular autoencoder or score model; every default is overridable.

    :param threshold: alert threshold; or give ``normal`` rows and a ``percentile`` to calibrate it.
    :param normal: normal rows (model units): calibrate the threshold (unless given), record the
        normal scores (the search's typically-normal target) and give the search per-feature units.
    :param k, lam, eps, lr, steps: override the calibrated defaults (see ``Calibration``).
    :param features: ``FeatureSpec``, feature names, or a CSV file whose header names them;
        its bounds, integer and frozen features become constraints (original units, via ``scaler``).
    :param scaler: maps original units to model units (``transform``/``inverse_transform``);
        tables and plots then show original units.
    :param adapter: ``auto``/``autoencoder``/``score``, a registered adapter name, or pass a
        ``ModelAdapter`` as ``model``.
    :param distance, search: registered names (or instances / ``(name, options)`` pairs);
        ``search="auto"``: ``gradient`` where the score has an input gradient, else ``blackbox``
        (IsolationForest, ECOD, ONNX models...; it takes its candidate values from ``normal``).
    :param box_margin: with ``normal`` rows, the values a reference changes stay inside each feature's
        normal range widened by this share of it (default 0.1; never below 0 for a feature that is never
        negative in the normal rows), so the reference remains a possible input (a feature it leaves at
        the anomaly's value may lie outside); None: no default box.
    """
    built = _adapter(model, threshold, adapter, width, output, device)
    data = _normal(built, threshold, normal, percentile)
    normal = None if data is None else data.values  # the rows as given, float64: what the statistics read
    assert built.sample_shape is not None  # _adapter checked it is [D]
    d = int(built.sample_shape[0])
    spec = _features(features, d)
    if spec is not None:
        _check_integer_units(spec, normal, scaler)
    if scaler is not None:
        affine_of(scaler, d)  # fail now, not when the first table is printed
    cal = _calibration(d, built.threshold, normal, k=k, lam=lam, eps=eps, lr=lr, steps=steps)
    reg = registry()
    if search == "auto":
        search = choose_search(built, data)
    offered = {
        "lr": cal.lr,
        "steps": cal.steps,
        "seed": seed,
        **({} if built.reconstructs else SCORE_ONLY_DESCENT),
        **({} if data is None else {"normal": data}),
    }
    if normal is not None and (units := feature_scale(normal)) is not None:
        offered["scale"] = units
    search_obj = _search(search, search_options, offered)
    extra: list[Any] = list(model_constraints(spec, scaler)) if spec is not None else []
    if normal is not None and box_margin is not None:
        box, cal = _normal_box(normal, scaler, box_margin, cal)
        extra.append(box)
    extra += user_constraints(constraints, None if spec is None else spec.names, reg)
    return TabularInterpreter(
        adapter=built,
        search=search_obj,
        constraints=build_constraints(
            k=cal.k, lam=cal.lam, eps=cal.eps, extra=extra, reg=reg, feature_names=None if spec is None else spec.names
        ),
        distance=reg.build("distances", distance, Distance),
        name="tabular",
        features=spec,
        scaler=scaler,
        calibration=cal,
    )


#: The options ``create("tabular", ...)`` takes (``deepaid plugins`` lists them).
TABULAR_PRESET = Preset(
    tabular_interpreter,
    (
        THRESHOLD,
        NORMAL,
        PERCENTILE,
        K.but(doc="at most this many features change (default: calibrated)"),
        LAM,
        EPS,
        Option("lr", None, "float", "step size of the gradient search (default: calibrated)"),
        Option("steps", None, "int", "step budget of the gradient search (default: calibrated)"),
        Option(
            "features",
            None,
            "FeatureSpec | list of names | CSV path",
            "feature names, bounds, integer and frozen features",
            fill="columns",
        ),
        Option("scaler", None, "scaler", "maps original units to model units (transform / inverse_transform)"),
        Option("adapter", "auto", "name", "auto, autoencoder, score, or a registered adapter"),
        Option("width", None, "int", "number of features, where the model cannot tell", fill="width"),
        Option("output", None, "int | name", "which output of the model is the reconstruction or the score"),
        CONSTRAINTS,
        DISTANCE,
        SEARCH,
        SEARCH_OPTIONS,
        SEED,
        DEVICE,
        Option(
            "box_margin",
            NORMAL_BOX_MARGIN,
            "float",
            "references stay in the normal rows' range widened by this share of it (None: no default box)",
        ),
    ),
)
