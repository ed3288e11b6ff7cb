"""Link classifiers users bring: torch callables, and fitted estimators with ``predict_proba``.

The edge adapter scores edge features ``[B, D]`` with a callable returning ``P(edge)`` ``[B]``. What
it accepts, and how the graph search then finds the ideal edge embedding e*:

- a torch module or callable (torch tensors in, a tensor out): used as it is; e* by the gradient
  search where its output has a gradient, else by the gradient-free one;
- a fitted estimator with ``predict_proba`` (scikit-learn or alike; column ``classes_[1]`` is
  P(edge)): when it is linear -- ``LogisticRegression`` or any estimator with ``coef_`` and
  ``intercept_`` whose probability is the sigmoid of its decision, and ``CalibratedClassifierCV``
  with ``method="sigmoid"`` over such estimators (``LinearSVC`` included) -- an exact torch twin
  (``LinearTwin``), checked against ``predict_proba`` on the graph's own edges before it is used, so
  the gradient search applies; otherwise (trees, an MLP, isotonic calibration, a pipeline, or a twin
  that does not match) the estimator itself is called on numpy arrays (``ProbaClassifier``) and e* is
  found by the gradient-free search. ``EdgeAdapter.classifier_route`` says which.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

#: Largest difference of P(edge) between a torch twin and ``predict_proba`` on the check edges.
TWIN_TOLERANCE = 1e-5


class LinearTwin(nn.Module):
    """``P(edge) = mean_k sigmoid(a_k * (w_k . x + b_k) + c_k)``: a linear link model (or a sigmoid-calibrated
    ensemble of them) in torch, so that its score has a gradient."""

    def __init__(self, weight: Any, bias: Any, scale: Any = None, shift: Any = None) -> None:
        super().__init__()
        w = torch.as_tensor(np.asarray(weight, dtype=np.float64), dtype=torch.float32)
        w = w.reshape(-1, w.shape[-1])
        k = w.shape[0]

        def vector(value: Any, default: float) -> Tensor:
            arr = np.full(k, default) if value is None else np.asarray(value, dtype=np.float64).reshape(k)
            return torch.as_tensor(arr, dtype=torch.float32)

        self.weight: Tensor
        self.bias: Tensor
        self.scale: Tensor
        self.shift: Tensor
        self.register_buffer("weight", w)
        self.register_buffer("bias", vector(bias, 0.0))
        self.register_buffer("scale", vector(scale, 1.0))
        self.register_buffer("shift", vector(shift, 0.0))

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    def forward(self, features: Tensor) -> Tensor:
        logits = (features @ self.weight.T + self.bias) * self.scale + self.shift
        return torch.sigmoid(logits).mean(dim=1)


class ProbaClassifier:
    """A fitted estimator's ``predict_proba`` as a callable on torch edge features (no gradient).

    Features go to the estimator as float64 numpy arrays; the column of ``classes_[1]`` comes back as
    a float32 tensor on the features' device.
    """

    differentiable = False

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.column = positive_column(estimator)

    @property
    def in_features(self) -> int | None:
        value = getattr(self.estimator, "n_features_in_", None)
        return int(value) if isinstance(value, (int, np.integer)) else None

    def __call__(self, features: Tensor) -> Tensor:
        x = features.detach().cpu().numpy().astype(np.float64)
        proba = np.asarray(self.estimator.predict_proba(x), dtype=np.float64)
        if proba.ndim != 2 or proba.shape[0] != x.shape[0]:
            raise ValueError(
                f"classifier: {type(self.estimator).__name__}.predict_proba returned shape {list(proba.shape)}; "
                f"expected [B, 2] for {x.shape[0]} edges"
            )
        return torch.as_tensor(proba[:, self.column], dtype=torch.float32, device=features.device)


def positive_column(estimator: Any) -> int:
    """The ``predict_proba`` column of P(edge): that of ``classes_[1]`` of a binary estimator."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise ValueError(
            f"classifier: {type(estimator).__name__} has predict_proba but no classes_; pass it fitted "
            "(edges as class 1, non-edges as class 0)"
        )
    if len(classes) != 2:
        raise ValueError(
            f"classifier: expected a binary link classifier (non-edge, edge); {type(estimator).__name__} "
            f"has classes {list(classes)}"
        )
    return 1


def _linear_parts(estimator: Any) -> tuple[np.ndarray, np.ndarray] | None:
    coef, intercept = getattr(estimator, "coef_", None), getattr(estimator, "intercept_", None)
    if coef is None or intercept is None:
        return None
    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[0] != 1:
        return None
    return coef, np.asarray(intercept, dtype=np.float64).reshape(1)


def linear_twin(estimator: Any) -> LinearTwin | None:
    """The torch twin of a linear link model, or None where the estimator is not one (see the module doc)."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated is None:
        parts = _linear_parts(estimator)
        return None if parts is None else LinearTwin(*parts)
    weights, biases, scales, shifts = [], [], [], []
    for member in calibrated:
        parts = _linear_parts(getattr(member, "estimator", None))
        calibrators: Any = getattr(member, "calibrators", ())
        if parts is None or len(calibrators) != 1:
            return None
        a, b = getattr(calibrators[0], "a_", None), getattr(calibrators[0], "b_", None)
        if a is None or b is None:  # isotonic: piecewise constant, no twin
            return None
        weights.append(parts[0][0])
        biases.append(parts[1][0])
        scales.append(-float(a))  # sklearn's sigmoid calibration: 1 / (1 + exp(a * f + b))
        shifts.append(-float(b))
    return LinearTwin(np.stack(weights), np.array(biases), np.array(scales), np.array(shifts))


def link_classifier(classifier: Any, check: Tensor) -> tuple[Any, str]:
    """``(callable on torch edge features, route)`` for what the user passed (see the module doc).

    ``check`` is a batch of real edge features: a twin is used only if it matches ``predict_proba``
    there within ``TWIN_TOLERANCE``.
    """
    if not hasattr(classifier, "predict_proba"):
        if not callable(classifier):
            raise TypeError(
                "classifier: expected a torch callable on edge features [B, D] returning P(edge) [B] (an "
                "nn.Module such as LinkClassifier), or a fitted binary estimator with predict_proba "
                f"(scikit-learn: LogisticRegression, CalibratedClassifierCV, RandomForestClassifier, ...); "
                f"got {type(classifier).__name__}"
            )
        return classifier, "torch"
    proba = ProbaClassifier(classifier)
    name = type(classifier).__name__
    twin = linear_twin(classifier)
    if twin is None:
        return proba, f"predict_proba of {name} (not linear: no gradient, e* by the gradient-free search)"
    if twin.in_features != check.shape[1]:
        raise ValueError(
            f"embeddings: width {check.shape[1]} does not fit the classifier, which takes {twin.in_features} "
            "edge features"
        )
    twin = twin.to(check.device)
    with torch.no_grad():
        gap = float((twin(check) - proba(check)).abs().max()) if check.shape[0] else 0.0
    if gap > TWIN_TOLERANCE:
        return proba, (
            f"predict_proba of {name} (its linear twin differs by {gap:.2g} on the graph's edges: no gradient, "
            "e* by the gradient-free search)"
        )
    return twin, f"torch twin of {name} (matches predict_proba within {gap:.1g} on {check.shape[0]} graph edges)"
