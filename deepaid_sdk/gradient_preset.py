"""The built-in ``gradient`` preset: any ``ModelAdapter``, score model or function, or a detector that is
not a torch module (sklearn/PyOD estimators, ONNX sessions), with the usual constraints."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepaid_sdk.constraint_specs import build_constraints, check_k
from deepaid_sdk.distances import Distance
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.model.differentiable import choose_search
from deepaid_sdk.model.foreign import foreign_adapter
from deepaid_sdk.normal import prepare_normal
from deepaid_sdk.preset_options import (
    BOX,
    CONSTRAINTS,
    DISTANCE,
    EPS,
    FEATURE_NAMES,
    FROZEN,
    INTEGER,
    LAM,
    NORMAL,
    ONEHOT,
    PERCENTILE,
    SEARCH,
    SEARCH_OPTIONS,
    THRESHOLD,
    K,
    Option,
    Preset,
)
from deepaid_sdk.registry import registry
from deepaid_sdk.search.base import ReferenceSearch


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
    from ``deepaid_sdk.model.foreign``. ``normal``: normal rows; they set the threshold at
    ``percentile`` when none is given, their scores are recorded so the search aims for a
    typically-normal reference (see ``deepaid_sdk.search.gradient``; without them the target is a
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
            foreign = foreign_adapter(
                model, threshold, sample_shape=options.get("sample_shape"), eps=options.get("eps", 0.0)
            )
        model_adapter = (
            foreign
            if foreign is not None
            else reg.build("adapters", adapter, ModelAdapter, model=model, threshold=threshold, **options)
        )
    data = prepare_normal(model_adapter, normal, None, percentile)
    width = int(np.prod(model_adapter.sample_shape)) if model_adapter.sample_shape is not None else None
    if search == "auto":
        search = choose_search(model_adapter, data)
    search_options = dict(search_options or {})
    if data is not None and search == "blackbox":
        search_options.setdefault("normal", data)
    return Interpreter(
        adapter=model_adapter,
        search=reg.build("searches", search, ReferenceSearch, **search_options),
        constraints=build_constraints(
            k=check_k(k, width),
            lam=lam,
            eps=eps,
            box=box,
            integer=integer,
            frozen=frozen,
            onehot=onehot,
            extra=constraints,
            reg=reg,
            feature_names=feature_names,
        ),
        distance=reg.build("distances", distance, Distance),
        name="gradient",
    )


GRADIENT = Preset(
    gradient_interpreter,
    (
        THRESHOLD,
        Option("adapter", "score", "name", "a registered adapter (score, reconstruction...)"),
        Option("adapter_options", None, "dict", "options of that adapter"),
        K,
        LAM,
        EPS,
        BOX,
        INTEGER,
        FROZEN,
        ONEHOT,
        CONSTRAINTS,
        DISTANCE,
        SEARCH,
        SEARCH_OPTIONS,
        Option("sample_shape", None, "list of int", "shape of one sample, where the adapter cannot tell"),
        NORMAL,
        PERCENTILE,
        FEATURE_NAMES,
    ),
)
