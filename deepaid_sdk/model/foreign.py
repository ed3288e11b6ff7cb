"""Adapters for detectors that are not torch modules: sklearn/PyOD estimators, ONNX Runtime, numpy.

Their scores have no gradient with respect to the input, so they are explained by the
``blackbox`` search (presets pick it automatically). No new core dependency: estimators are
duck-typed, ``onnxruntime`` is imported only when an ``OnnxAdapter`` is built (extra
``deepaid-sdk[onnx]``).

Sign convention: our score is *higher = more anomalous* and a row is an alert when its score
exceeds the threshold. sklearn's ``score_samples`` and ``decision_function`` are *higher =
more normal*, so they are negated; PyOD's ``decision_function`` is already higher = more
anomalous and is used as it is.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.model.adapters import ModelAdapter


def _width(width: int | None, found: int | None, model: Any) -> int:
    if width is not None:
        width = check_positive_int(width, "width")
        if found is not None and found != width:
            raise ValueError(f"width: {type(model).__name__} takes {found} features; got width={width}")
        return width
    if found is None:
        raise ValueError(f"width: cannot tell how many features {type(model).__name__} takes; pass width=D")
    return int(found)


class ArrayScoreAdapter(ModelAdapter):
    """Scores computed outside torch on ``float`` numpy rows ``[B, D]``: no gradient, CPU.

    Subclasses implement ``score_array(x: np.ndarray) -> np.ndarray [B]`` (higher = more anomalous).
    """

    #: Scores have no gradient with respect to the input: presets pick the blackbox search.
    differentiable = False
    #: dtype of the numpy rows handed to the model.
    array_dtype: Any = np.float32

    def __init__(self, threshold: float | None, *, width: int, eps: float = 0.0, device: Any = "cpu") -> None:
        super().__init__(threshold, eps=eps, device=device)
        self.width = check_positive_int(width, "width")
        self.sample_shape = (self.width,)

    def score_array(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, x: Tensor) -> Tensor:
        rows = x.detach().reshape(x.shape[0], -1).cpu().numpy().astype(self.array_dtype, copy=False)
        out = np.asarray(self.score_array(rows), dtype=np.float64)
        if out.shape != (x.shape[0],):
            out = out.reshape(-1) if out.size == x.shape[0] else out
        if out.shape != (x.shape[0],):
            raise ValueError(f"model: expected one score per row, shape [{x.shape[0]}]; got {list(out.shape)}")
        return torch.as_tensor(out, dtype=torch.float32, device=x.device)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "width": self.width}


class SklearnAdapter(ArrayScoreAdapter):
    """An sklearn-style estimator (IsolationForest, LOF with novelty, OneClassSVM...) or a PyOD detector.

    :param method: ``score_samples`` or ``decision_function``; ``auto``: ``decision_function``
        for PyOD detectors, else ``score_samples`` where the estimator has it.
    :param higher_is_anomalous: the estimator's own sign; None: True for PyOD detectors (they
        carry ``decision_scores_`` and ``threshold_``), False for sklearn (negated).
    :param threshold: default: PyOD's ``threshold_``; for sklearn ``-offset_`` with
        ``score_samples`` and 0 with ``decision_function`` (sklearn's own inlier boundary);
        otherwise left unset (calibrate on normal rows).
    """

    @classmethod
    def accepts(cls, model: Any) -> bool:
        """A fitted estimator with ``score_samples`` or ``decision_function`` (not a torch module)."""
        return is_estimator(model)

    def __init__(
        self,
        model: Any,
        threshold: float | None = None,
        *,
        method: str = "auto",
        higher_is_anomalous: bool | None = None,
        width: int | None = None,
        eps: float = 0.0,
        device: Any = "cpu",
    ) -> None:
        if not is_estimator(model):
            raise TypeError(
                f"model: expected an estimator with score_samples or decision_function; got {type(model).__name__}"
            )
        pyod = is_pyod(model)
        if method == "auto":
            method = "decision_function" if pyod or not hasattr(model, "score_samples") else "score_samples"
        if method not in ("score_samples", "decision_function") or not callable(getattr(model, method, None)):
            raise ValueError(
                f"method: expected 'auto', 'score_samples' or 'decision_function' that "
                f"{type(model).__name__} has; got {method!r}"
            )
        self.model, self.method = model, method
        self.higher_is_anomalous = pyod if higher_is_anomalous is None else bool(higher_is_anomalous)
        if threshold is None:
            threshold = self._own_threshold()
        found = getattr(model, "n_features_in_", None)
        super().__init__(
            threshold, width=_width(width, None if found is None else int(found), model), eps=eps, device=device
        )

    def _own_threshold(self) -> float | None:
        if self.higher_is_anomalous:
            value = getattr(self.model, "threshold_", None)
            return None if value is None else float(value)
        offset = getattr(self.model, "offset_", None)
        if offset is None:
            return None
        return -float(offset) if self.method == "score_samples" else 0.0

    def score_array(self, x: np.ndarray) -> np.ndarray:
        """The estimator's scores of numpy rows, signed so that higher is more anomalous."""
        # An estimator fitted on a DataFrame warns "X does not have valid feature names" on every array it
        # scores (once per search step). Rows reach it in its own column order (matched by name where they
        # came with names), so that one warning is silenced here; every other warning still shows.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
            out = np.asarray(getattr(self.model, self.method)(x), dtype=np.float64).reshape(-1)
        return out if self.higher_is_anomalous else -out

    def describe(self) -> dict[str, Any]:
        """The adapter's recorded parameters and what it wraps, for reproducibility."""
        return {
            **super().describe(),
            "model": type(self.model).__name__,
            "method": self.method,
            "higher_is_anomalous": self.higher_is_anomalous,
        }


class NumpyScoreAdapter(ArrayScoreAdapter):
    """A plain function ``score(rows: np.ndarray [B, D]) -> [B]`` (higher = more anomalous by default).

    :param width: number of features ``D``.
    :param higher_is_anomalous: False for a function where higher means more normal (negated).
    :param dtype: numpy dtype of the rows handed to the function.
    """

    def __init__(
        self,
        model: Callable[[np.ndarray], Any],
        threshold: float | None = None,
        *,
        width: int | None = None,
        sample_shape: Sequence[int] | None = None,
        higher_is_anomalous: bool = True,
        dtype: Any = np.float32,
        eps: float = 0.0,
        device: Any = "cpu",
    ) -> None:
        if not callable(model):
            raise TypeError(f"model: expected a function rows -> scores; got {type(model).__name__}")
        if width is None and sample_shape is not None:
            width = int(np.prod(tuple(sample_shape)))
        if width is None:
            raise ValueError("width: pass width=D (the number of features the function takes)")
        self.model = model
        self.higher_is_anomalous = bool(higher_is_anomalous)
        self.array_dtype = np.dtype(dtype)
        super().__init__(threshold, width=width, eps=eps, device=device)

    def score_array(self, x: np.ndarray) -> np.ndarray:
        """The function's scores of numpy rows, checked to be one finite number per row."""
        out = np.asarray(self.model(x), dtype=np.float64).reshape(-1)
        return out if self.higher_is_anomalous else -out


class OnnxAdapter(ArrayScoreAdapter):
    """An ONNX model run by ONNX Runtime: an ``InferenceSession`` or a path to a ``.onnx`` file.

    :param output: index or name of the output holding the scores (one per row); ``auto``: the ``scores``
        output of a scikit-learn model converted by skl2onnx, else the first output.
    :param input_name: the input fed with the rows; default the session's first input.
    :param higher_is_anomalous: False when the model's output is higher for more normal rows; None: False
        for skl2onnx's ``scores`` (scikit-learn's ``decision_function``: higher = more normal), else True.
    :param width: number of features, when the model's input shape does not fix it.
    """

    @classmethod
    def accepts(cls, model: Any) -> bool:
        """An ONNX Runtime session (not a torch module), or the path of a ``.onnx`` file."""
        if isinstance(model, (str, os.PathLike)):
            return os.fspath(model).endswith(".onnx")
        return is_onnx_session(model) and not isinstance(model, torch.nn.Module)

    def __init__(
        self,
        model: Any,
        threshold: float | None = None,
        *,
        output: int | str = "auto",
        input_name: str | None = None,
        higher_is_anomalous: bool | None = None,
        width: int | None = None,
        eps: float = 0.0,
        device: Any = "cpu",
    ) -> None:
        if isinstance(model, (str, os.PathLike)):
            try:
                import onnxruntime
            except ImportError:
                raise ImportError("OnnxAdapter needs onnxruntime: pip install 'deepaid-sdk[onnx]'") from None
            model = onnxruntime.InferenceSession(os.fspath(model), providers=["CPUExecutionProvider"])
        if not is_onnx_session(model):
            raise TypeError(
                f"model: expected an onnxruntime InferenceSession or a .onnx path; got {type(model).__name__}"
            )
        self.model = model
        inputs = model.get_inputs()
        names = [i.name for i in inputs]
        self.input_name = names[0] if input_name is None else input_name
        if self.input_name not in names:
            raise ValueError(f"input_name: the model's inputs are {names}; got {input_name!r}")
        outputs = [o.name for o in model.get_outputs()]
        sklearn_scores = _is_skl2onnx(model) and "scores" in outputs
        if output == "auto":
            output = "scores" if sklearn_scores else 0
        if higher_is_anomalous is None:
            higher_is_anomalous = not (sklearn_scores and output == "scores")
        if isinstance(output, int) and not isinstance(output, bool) and 0 <= output < len(outputs):
            self.output_name = outputs[output]
        elif isinstance(output, str) and output in outputs:
            self.output_name = output
        else:
            raise ValueError(f"output: expected an index or a name among the model's outputs {outputs}; got {output!r}")
        info = inputs[names.index(self.input_name)]
        self.array_dtype = np.float64 if "double" in str(info.type) else np.float32
        shape = list(info.shape)
        found = shape[-1] if len(shape) == 2 and isinstance(shape[-1], int) else None
        self.higher_is_anomalous = bool(higher_is_anomalous)
        super().__init__(threshold, width=_width(width, found, model), eps=eps, device=device)

    def score_array(self, x: np.ndarray) -> np.ndarray:
        """The session's score output for numpy rows, signed so that higher is more anomalous."""
        out = np.asarray(self.model.run([self.output_name], {self.input_name: x})[0], dtype=np.float64).reshape(-1)
        return out if self.higher_is_anomalous else -out

    def describe(self) -> dict[str, Any]:
        """The adapter's recorded parameters and what it wraps, for reproducibility."""
        return {
            **super().describe(),
            "output": self.output_name,
            "input": self.input_name,
            "higher_is_anomalous": self.higher_is_anomalous,
        }


def _is_skl2onnx(session: Any) -> bool:
    """The session's model was converted from scikit-learn by skl2onnx (its producer name says so)."""
    try:
        return session.get_modelmeta().producer_name == "skl2onnx"
    except Exception:  # a duck-typed session without metadata
        return False


def is_estimator(model: Any) -> bool:
    """Duck-typed sklearn/PyOD estimator: not a torch module, has score_samples or decision_function."""
    return not isinstance(model, torch.nn.Module) and any(
        callable(getattr(model, m, None)) for m in ("score_samples", "decision_function")
    )


def is_pyod(model: Any) -> bool:
    """A fitted PyOD detector: it keeps its training scores and threshold (higher = more anomalous)."""
    return hasattr(model, "decision_scores_") and hasattr(model, "threshold_")


def is_onnx_session(model: Any) -> bool:
    """An ONNX Runtime session (duck-typed: ``run``, ``get_inputs``, ``get_outputs``)."""
    return all(callable(getattr(model, m, None)) for m in ("run", "get_inputs", "get_outputs"))


def foreign_adapter(
    model: Any,
    threshold: float | None = None,
    *,
    width: int | None = None,
    sample_shape: Sequence[int] | None = None,
    eps: float = 0.0,
) -> ModelAdapter | None:
    """The adapter for a detector that is not a torch module (an estimator, an ONNX session or ``.onnx``
    path...), else None: the first registered adapter class, in registration order, that ``accepts`` it."""
    if width is None and sample_shape is not None:
        width = int(np.prod(tuple(sample_shape)))
    from deepaid_sdk.registry import registry

    for component in registry().components["adapters"].values():  # insertion (registration) order
        factory = component.factory
        if isinstance(factory, type) and issubclass(factory, ModelAdapter) and factory.accepts(model):
            return factory.for_model(model, threshold, width=width, eps=eps)
    return None
