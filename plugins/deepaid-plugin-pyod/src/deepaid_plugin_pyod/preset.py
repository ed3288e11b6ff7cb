"""The ``pyod`` interpreter preset: ``create("pyod", model=fitted_detector, k=...)``.

Threshold: the detector's ``threshold_`` (its contamination cut on the training scores).
Feature names: ``features=``, else the columns of ``normal`` when it is a data frame, else the
detector's ``feature_names_in_`` where it has one. Search: ``gradient`` for PyOD's torch
models (AutoEncoder, VAE, DeepSVDD), ``blackbox`` for every other detector (it needs
``normal=`` rows, e.g. the training rows). Everything else is the ``tabular`` preset's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepaid_plugin_pyod.adapters import detector_width, pyod_adapter
from deepaid_plugin_tabular.preset import TABULAR_PRESET, TabularInterpreter, tabular_interpreter
from deepaid_sdk.preset_options import DEVICE, EPS, NORMAL, SEARCH, SEARCH_OPTIONS, THRESHOLD, K, Option, Preset


def _rows_and_names(normal: Any) -> tuple[Any, list[str] | None]:
    """A data frame's values and column names; anything else as it is, without names."""
    columns = getattr(normal, "columns", None)
    if columns is not None and callable(getattr(normal, "to_numpy", None)):
        return np.asarray(normal.to_numpy(), dtype=np.float32), [str(c) for c in columns]
    return normal, None


def pyod_interpreter(
    model: Any,
    *,
    threshold: float | None = None,
    normal: Any = None,
    k: int | None = None,
    features: Any = None,
    search: Any = "auto",
    search_options: dict[str, Any] | None = None,
    eps: float | None = None,
    device: Any = None,
    **options: Any,
) -> TabularInterpreter:
    """Explain alerts of a fitted PyOD detector; other options go to the ``tabular`` preset.

    :param model: a fitted PyOD detector.
    :param threshold: default the detector's ``threshold_``.
    :param normal: normal rows (array or data frame, e.g. the training rows): candidate values
        of the blackbox search, the data scale, and feature names from a frame's columns.
    :param k: features a reference may change (default: the tabular preset's).
    :param features: feature names or a ``FeatureSpec``; overrides names taken from ``normal``.
    """
    rows, names = _rows_and_names(normal)
    width = None if rows is None or detector_width(model) is not None else int(np.shape(rows)[1])
    adapter = pyod_adapter(model, threshold, width=width, device=device)
    if features is None:
        features = names
    if features is None and getattr(model, "feature_names_in_", None) is not None:
        features = [str(c) for c in model.feature_names_in_]
    interp = tabular_interpreter(
        adapter, normal=rows, k=k, features=features, search=search, search_options=search_options, eps=eps, **options
    )
    interp.name = "pyod"
    return interp


#: The options ``create("pyod", ...)`` takes (``deepaid plugins`` lists them).
PYOD_PRESET = Preset(
    pyod_interpreter,
    (
        THRESHOLD.but(doc="default: the detector's threshold_"),
        NORMAL,
        K,
        Option("features", None, "list of names | FeatureSpec", "feature names; default: normal's columns"),
        SEARCH,
        SEARCH_OPTIONS,
        EPS,
        DEVICE,
        # the tabular preset's other options, passed on to it
        *(
            o.but(fill=None)
            for o in TABULAR_PRESET.options
            if o.name not in ("threshold", "normal", "k", "features", "search", "search_options", "eps", "device")
        ),
    ),
)
