"""The ``multits`` interpreter preset: the core gradient search on a window's last vector (or every step).

Samples are ``[W + 1, D]`` (W context steps, then the actual vector). In ``steps="last"`` mode
the W context rows are frozen, so the reference differs from the anomaly only in its last vector,
as in the original method; ``steps="all"`` lets the search change any cell of the window. Either
way ``changed`` comes back as ``(step, feature)`` pairs. The score is the detector's own (the
last vector's error), or with ``score="all"`` the error of every step the model can predict from
the steps before it (``AllStepsAdapter``), so that odd *context* cells show in the score and can be
changed. Feature options (``box``, ``integer``, ``frozen``) name features ``d`` in ``[0, D)``
and apply to every step the search may change.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from deepaid_plugin_multits.adapters import INPUTS, AllStepsAdapter, LSTMPredictorAdapter, detect_input
from deepaid_plugin_multits.windows import sliding_windows
from deepaid_sdk.checks import as_tensor, check_finite_number
from deepaid_sdk.constraint_specs import build_constraints, check_k
from deepaid_sdk.distances import Distance
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.normal import NormalData
from deepaid_sdk.preset_options import (
    CONSTRAINTS,
    DISTANCE,
    LAM,
    NORMAL,
    PERCENTILE,
    SEARCH,
    SEARCH_OPTIONS,
    THRESHOLD,
    K,
    Option,
    Preset,
)
from deepaid_sdk.registry import registry
from deepaid_sdk.search import ReferenceSearch
from deepaid_sdk.target import typical_margin

STEP_MODES = ("last", "all")
#: What the score covers: the last vector (the detector's own score) or every step the model can predict.
SCORE_MODES = ("last", "all")

#: Search defaults of the preset (``search_options`` overrides any of them). Both starts run: the
#: predictor's own output on the K largest residuals, and the anomaly plus small seeded noise
#: (robustness). In input units of standardised series, steps of 0.2 reach a reference within the
#: 30-step budget; a row that stops improving for 10 steps stops. On the synthetic benchmark these
#: keep recall and flip rate of the core's defaults (300 steps of 0.05) at about 3x the speed.
SEARCH_DEFAULTS: dict[str, Any] = {"start": "auto", "lr": 0.2, "steps": 30, "patience": 10, "init_noise": 0.01}
#: With ``score="all"`` the search starts from the anomaly only: an odd context cell also throws
#: off the predictions of the steps after it, so the largest residuals of the all-steps
#: reconstruction often miss it: the residual baseline's recall@3 is 0.62 on the ``multits-context``
#: case of ``deepaid bench multits``.
ALL_STEPS_SEARCH: dict[str, Any] = {"start": "anomaly"}


def _feature_list(value: Sequence[int] | None, features: int, name: str) -> np.ndarray:
    if value is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(value)
    if arr.dtype == bool:
        if arr.shape != (features,):
            raise ValueError(f"{name}: a bool mask needs one entry per feature ({features}); got shape {arr.shape}")
        arr = np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected feature indices d in [0, {features}); got dtype {arr.dtype}")
    arr = arr.astype(np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= features):
        raise ValueError(f"{name}: feature indices must lie in [0, {features}); got {arr.tolist()}")
    return np.unique(arr)


def _cells(rows: np.ndarray, features: np.ndarray, width: int) -> list[int]:
    """Flattened indices ``step * D + d`` of every (row, feature) pair."""
    return (rows[:, None] * width + features[None, :]).reshape(-1).tolist()


def _per_feature(value: Any, features: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(features, float(arr))
    if arr.shape != (features,):
        raise ValueError(f"box {name}: expected a number or one value per feature ({features}); got shape {arr.shape}")
    return arr


def window_constraints(
    window: int,
    features: int,
    *,
    steps: str = "last",
    box: tuple[Any, Any] | None = None,
    integer: Sequence[int] | None = None,
    frozen: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Core constraint options (flattened over ``[W + 1, D]``) for a step mode and per-feature options."""
    if steps not in STEP_MODES:
        raise ValueError(f"steps: expected one of {STEP_MODES}; got {steps!r}")
    length = window + 1
    searched = np.array([window]) if steps == "last" else np.arange(length)
    out: dict[str, Any] = {}
    frozen_f = _feature_list(frozen, features, "frozen")
    frozen_cells = _cells(np.arange(length), frozen_f, features)
    if steps == "last":
        frozen_cells += list(range(window * features))
    if frozen_cells:
        out["frozen"] = sorted(set(frozen_cells))
    integer_f = _feature_list(integer, features, "integer")
    if integer_f.size:
        out["integer"] = _cells(searched, integer_f, features)
    if box is not None:
        if not (isinstance(box, (tuple, list)) and len(box) == 2):
            raise TypeError(f"box: expected a (low, high) pair of numbers or per-feature arrays; got {box!r}")
        low, high = _per_feature(box[0], features, "low"), _per_feature(box[1], features, "high")
        flat_low = np.full((length, features), -np.inf)
        flat_high = np.full((length, features), np.inf)
        flat_low[searched], flat_high[searched] = low, high  # rows the search never changes are unbounded
        out["box"] = (flat_low.reshape(-1), flat_high.reshape(-1))
    return out


def _samples(normal: Any, window: int) -> np.ndarray:
    """Normal data as samples: a series ``[T, D]`` is windowed; ``[N, W + 1, D]`` is taken as is."""
    t = as_tensor(normal, "normal")
    return sliding_windows(t, window, name="normal") if t.ndim == 2 else t.cpu().numpy()


def _all_steps_adapter(adapter: ModelAdapter, normal: Any, min_context: int | None) -> AllStepsAdapter:
    """The all-steps twin of ``adapter``, its per-step scale fitted on ``normal`` where needed."""
    if isinstance(adapter, AllStepsAdapter):
        if min_context is not None and adapter.min_context != min_context:
            raise ValueError(
                f"min_context: the AllStepsAdapter given scores from {adapter.min_context} context "
                f"steps; got min_context={min_context}"
            )
        twin = adapter
    elif isinstance(adapter, LSTMPredictorAdapter):
        twin = adapter.all_steps(1 if min_context is None else min_context)
    else:
        raise TypeError(
            f"model: score='all' needs an LSTMPredictorAdapter or an nn.Module [B, W, D] -> [B, D]; "
            f"got {type(adapter).__name__}"
        )
    if twin.step_scale is None:
        if normal is None:
            raise ValueError(
                "normal: score='all' needs normal data (a series [T, D] or samples) to calibrate the "
                "all-steps score; got None"
            )
        twin.fit_step_scale(_samples(normal, twin.window))
    return twin


def _input_mode(
    model: nn.Module, window: int, features: int | None, rnn_backward: str, given: str | None, own: Any, normal: Any
) -> tuple[str, str]:
    """What the model reads (``INPUTS``) and how that was settled: given, or checked against ``own`` scores."""
    if given is not None and given not in INPUTS:
        raise ValueError(f"input: expected one of {INPUTS} or None (detect it with model_score=); got {given!r}")
    if own is None:
        return (given or "context"), ("given" if given else "default (no model_score= to check it against)")
    if normal is not None:
        samples = as_tensor(_samples(normal, window), "normal")
    elif callable(own):
        d = features if features is not None else getattr(model, "features", None)
        if d is None:
            raise ValueError("features: pass D, the number of features per step (the model has no .features)")
        gen = torch.Generator().manual_seed(0)
        samples = torch.randn(64, window + 1, int(d), generator=gen)
    else:
        raise ValueError(
            "model_score: scores given as an array need normal= (the normal series or samples they score, in "
            "the order of sliding_windows); or pass a callable on samples [B, W + 1, D]"
        )
    found, how = detect_input(model, window, features, samples.float(), own, rnn_backward=rnn_backward)
    if given is not None and given != found:
        raise ValueError(f"input: given {given!r}, but the model's own scores match input={found!r} ({how})")
    return found, how


def _window_adapter(
    model: Any,
    window: int | None,
    features: int | None,
    rnn_backward: str,
    input: str | None = None,
    model_score: Any = None,
    normal: Any = None,
) -> ModelAdapter:
    """``model`` as an adapter of windows ``[W + 1, D]``: an adapter as given (checked), or an LSTM wrapped
    (reading the context or the whole window: ``input``, or detected from ``model_score``)."""
    if isinstance(model, ModelAdapter):
        if input is not None and getattr(model, "input", None) != input:
            raise ValueError(
                f"input: the adapter given reads {getattr(model, 'input', 'its own input')!r}; got input={input!r} "
                "(set it on the adapter, or pass the model itself)"
            )
        if model_score is not None:
            raise ValueError("model_score: checks the input mode of a model; pass the model itself, not an adapter")
        shape = model.sample_shape
        if shape is None or len(shape) != 2 or shape[0] < 2:
            raise ValueError(f"model: the adapter's samples must be windows [W + 1, D]; its sample_shape is {shape}")
        if window is not None and int(window) != shape[0] - 1:
            raise ValueError(f"window: the adapter reads W={shape[0] - 1} steps; got window={window}")
        return model
    if isinstance(model, nn.Module):
        if window is None:
            raise ValueError("window: give W, the number of context steps before the actual vector")
        mode, how = _input_mode(model, int(window), features, rnn_backward, input, model_score, normal)
        adapter = LSTMPredictorAdapter(model, window, features, rnn_backward=rnn_backward, input=mode)
        adapter.input_detection = how
        return adapter
    raise TypeError(
        f"model: expected an LSTMPredictorAdapter or an nn.Module [B, W, D] -> [B, D]; got {type(model).__name__}"
    )


def _threshold_and_margin(
    adapter: ModelAdapter, threshold: float | None, normal: Any, percentile: float, eps: float | str | None, w: int
) -> float | None:
    """Settle the threshold (given, or calibrated on the normal windows, prepared and scored once) and the
    fidelity margin (``"typical"``: down to the median normal score, ``deepaid_sdk.target.typical_margin``)."""
    if threshold is not None:
        adapter.threshold = threshold
    if normal is not None:
        data = NormalData.of(adapter, _samples(normal, w))
        if not adapter.has_threshold:
            adapter.calibrate(data, percentile)
        if getattr(adapter, "typical_score", None) is None:
            adapter.typical_score = data.median_score  # type: ignore[attr-defined]  # read by eps="typical"
    if not adapter.has_threshold:
        raise ValueError(
            "threshold: not set; pass threshold=, normal= (a normal series to calibrate on), "
            "or calibrate the adapter first"
        )
    if isinstance(eps, str):
        if eps != "typical":
            raise ValueError(f"eps: expected a number, None or 'typical'; got {eps!r}")
        return typical_margin(adapter, getattr(adapter, "typical_score", None))
    return None if eps is None else check_finite_number(eps, "eps")


def _modes(
    adapter: ModelAdapter, score: str | None, steps: str | None, normal: Any, min_context: int | None
) -> tuple[ModelAdapter, str, str]:
    """What is scored (the last step or every step) and what may change, checked against the adapter; the
    adapter is the all-steps twin where every step is scored."""
    if score is None:
        score = "all" if isinstance(adapter, AllStepsAdapter) else "last"
    if score not in SCORE_MODES:
        raise ValueError(f"score: expected one of {SCORE_MODES}; got {score!r}")
    if score == "last" and isinstance(adapter, AllStepsAdapter):
        raise ValueError(
            "score: the model is an AllStepsAdapter, which scores every step; got score='last' "
            "(pass its LSTMPredictorAdapter instead)"
        )
    if steps is None:
        steps = "all" if score == "all" else "last"
    if score == "all":
        adapter = _all_steps_adapter(adapter, normal, min_context)
    elif min_context is not None:
        raise ValueError(f"min_context: only used with score='all'; got {min_context!r} with score={score!r}")
    assert adapter.sample_shape is not None  # windows [W + 1, D]: checked above or set by the adapter
    return adapter, score, steps


def multits_interpreter(
    model: Any,
    *,
    window: int | None = None,
    features: int | None = None,
    threshold: float | None = None,
    normal: Any = None,
    percentile: float = 99.0,
    steps: str | None = None,
    score: str | None = None,
    min_context: int | None = None,
    k: int | None = None,
    lam: float | None = None,
    eps: float | str | None = "typical",
    box: tuple[Any, Any] | None = None,
    integer: Sequence[int] | None = None,
    frozen: Sequence[int] | None = None,
    constraints: Sequence[Any] = (),
    distance: Any = "l2",
    search: Any = "gradient",
    search_options: dict[str, Any] | None = None,
    rnn_backward: str = "train_rnn",
    input: str | None = None,
    model_score: Any = None,
) -> Interpreter:
    """Explain alerts of a next-vector predictor: the closest window it accepts (last vector or any step).

    :param model: an ``LSTMPredictorAdapter`` (or any adapter of samples ``[W + 1, D]``), or an
        ``nn.Module`` mapping ``[B, W, D]`` to ``[B, D]`` (then ``window`` is required).
    :param normal: a normal series ``[T, D]`` or normal samples; calibrates the threshold (at
        ``percentile``) when none is set.
    :param steps: ``"last"`` (only the actual vector changes) or ``"all"`` (any step of the window);
        default ``"last"``, or ``"all"`` with ``score="all"``.
    :param score: ``"last"`` (default; ``"all"`` for an ``AllStepsAdapter``): the detector's own
        score, the error of the last vector; ``"all"``: the error of every step the model can
        predict from the steps before it inside the window (``AllStepsAdapter``, from at least
        ``min_context`` steps, default 1), so that anomalous *context* cells count in the score
        and can be found. Its per-step scale and threshold (at ``percentile``) are calibrated on
        ``normal``, required unless ``model`` is an ``AllStepsAdapter`` already calibrated;
        ``threshold=`` then sets the all-steps threshold.
    :param k: at most this many cells change.
    :param eps: fidelity margin below the threshold; ``"typical"`` asks the reference to score no
        worse than the median normal sample (``threshold - typical_score``), so it looks normal
        rather than barely below the alarm; a number sets it; None keeps the adapter's.
    :param box, integer, frozen: per-feature constraints (features ``d`` in ``[0, D)``).
    :param input: what an ``nn.Module`` reads of a sample ``[W + 1, D]``: ``"context"`` (the W steps
        before the actual vector, ``x[:, :-1]``: a forecaster) or ``"window"`` (the whole sample, the
        actual vector included). Default: detected from ``model_score`` where given, else ``"context"``;
        ``interpreter.adapter.input_detection`` says which and how.
    :param model_score: the model's own scores (the RMSE of its prediction of the last vector) of the
        ``normal`` samples (an array, in the order of ``sliding_windows``), or a callable on samples
        ``[B, W + 1, D]`` returning them: the input mode whose scores match them is taken; neither
        matching is an error giving both ratios.
    """
    adapter = _window_adapter(model, window, features, rnn_backward, input, model_score, normal)
    adapter, score, steps = _modes(adapter, score, steps, normal, min_context)
    shape = adapter.sample_shape
    assert shape is not None  # _window_adapter checked it is [W + 1, D]
    w, d = shape[0] - 1, shape[1]
    eps = _threshold_and_margin(adapter, threshold, normal, percentile, eps, w)
    options = window_constraints(w, d, steps=steps, box=box, integer=integer, frozen=frozen)
    if steps == "last" and isinstance(adapter, LSTMPredictorAdapter):
        adapter = adapter.fixed_context()  # the context is frozen: no backward through the model
    width = d if steps == "last" else (w + 1) * d
    reg = registry()
    return Interpreter(
        adapter=adapter,
        search=reg.build(
            "searches",
            search,
            ReferenceSearch,
            **(
                {**SEARCH_DEFAULTS, **(ALL_STEPS_SEARCH if score == "all" else {}), **(search_options or {})}
                if search == "gradient"
                else dict(search_options or {})
            ),
        ),
        constraints=build_constraints(k=check_k(k, width), lam=lam, eps=eps, extra=constraints, reg=reg, **options),
        distance=reg.build("distances", distance, Distance),
        name="multits",
    )


#: The options ``create("multits", ...)`` takes (``deepaid plugins`` lists them).
MULTITS_PRESET = Preset(
    multits_interpreter,
    (
        Option("window", None, "int", "W, the context steps the model reads"),
        Option("features", None, "int", "D, the features of one step"),
        THRESHOLD,
        NORMAL,
        PERCENTILE,
        Option("steps", None, "name", "last (only the actual vector changes) or all (any step of the window)"),
        Option("score", None, "name", "last (the detector's own score) or all (every step of the window)"),
        Option("min_context", None, "int", "with score='all': context steps a prediction needs"),
        K,
        LAM,
        Option(
            "eps",
            "typical",
            "float | 'typical'",
            "margin below the threshold; typical: no worse than the median normal sample",
        ),
        Option("box", None, "[low, high]", "bounds per feature"),
        Option("integer", None, "list of features", "features that stay whole numbers"),
        Option("frozen", None, "list of features", "features that never change"),
        CONSTRAINTS,
        DISTANCE,
        SEARCH.but(default="gradient"),
        SEARCH_OPTIONS,
        Option("rnn_backward", "train_rnn", "name", "how gradients pass the LSTM on CUDA"),
        Option("input", None, "name", "what the model reads: context (x[:, :-1]) or window (x); None: detect"),
        Option("model_score", None, "array | callable", "the model's own scores of the normal samples (detects input)"),
    ),
)
