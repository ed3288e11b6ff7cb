"""Adapters for fitted PyOD detectors.

PyOD's torch models keep their network and input normalisation on the fitted detector:

- ``AutoEncoder`` and ``VAE`` (``pyod.models.base_dl.BaseDeepLearningDetector``): the network is
  ``detector.model``; with ``preprocessing=True`` inputs are standardised as
  ``(x - X_mean) / (X_std + 1e-8)``; the score is the Euclidean distance between the
  standardised input and its reconstruction. The VAE's reconstruction here is the mean path
  ``decode(encode(z)[0])`` (PyOD samples the latent code, so its own scores are random).
- ``DeepSVDD``: the network is ``detector.model_``, the centre ``detector.c_``, inputs go
  through ``detector.scaler_`` (a fitted ``StandardScaler``) with ``preprocessing=True``; the
  score is the squared distance of the embedding to the centre.

``PyodTorchAdapter`` rebuilds those scores in torch on inputs in the detector's own units, so
the gradient search can differentiate them; ``EcdfAdapter`` scores ECOD and COPOD row by row
(PyOD's own scores of these depend on the batch); every other detector goes through the core's
``SklearnAdapter`` (PyOD's ``decision_function``: higher = more anomalous, ``threshold_``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from deepaid_sdk.model.adapters import ModelAdapter, module_device
from deepaid_sdk.model.foreign import ArrayScoreAdapter, SklearnAdapter, is_pyod

#: PyOD's TorchDataset adds this to the std before dividing.
_STD_EPS = 1e-8
TORCH_KINDS = ("autoencoder", "vae", "deepsvdd")


def torch_kind(detector: Any) -> str | None:
    """``autoencoder``, ``vae`` or ``deepsvdd`` for PyOD's torch detectors, else None."""
    name = type(detector).__name__
    if name == "DeepSVDD" and isinstance(getattr(detector, "model_", None), nn.Module):
        return "deepsvdd"
    if name in ("AutoEncoder", "VAE") and isinstance(getattr(detector, "model", None), nn.Module):
        return "vae" if name == "VAE" else "autoencoder"
    return None


def _vector(value: Any, width: int, device: torch.device) -> Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float32).reshape(-1), device=device).expand(width).clone()


class PyodTorchAdapter(ModelAdapter):
    """A PyOD torch detector (AutoEncoder, VAE, DeepSVDD) scored in torch: differentiable, same score.

    Inputs are in the detector's own units (what ``fit`` saw); the standardisation PyOD applies
    is part of ``score``. ``threshold`` defaults to the detector's ``threshold_``.
    """

    def __init__(self, detector: Any, threshold: float | None = None, *, eps: float = 0.0, device: Any = None) -> None:
        kind = torch_kind(detector)
        if kind is None:
            raise TypeError(
                f"model: expected a fitted PyOD AutoEncoder, VAE or DeepSVDD; got {type(detector).__name__}"
            )
        self.detector, self.kind = detector, kind
        self.model: nn.Module = detector.model_ if kind == "deepsvdd" else detector.model
        self.model.eval()  # dropout and batch norm as in PyOD's decision_function
        if threshold is None:
            threshold = float(detector.threshold_)
        super().__init__(threshold, eps=eps, device=module_device(self.model) if device is None else device)
        width = detector_width(detector)
        if width is None:
            raise ValueError(f"model: cannot tell how many features {type(detector).__name__} takes")
        self.sample_shape = (width,)
        dev = self.device
        self.mean = torch.zeros(width, device=dev)
        self.scale = torch.ones(width, device=dev)
        if kind == "deepsvdd":
            if getattr(detector, "preprocessing", False):
                self.mean = _vector(detector.scaler_.mean_, width, dev)
                self.scale = _vector(detector.scaler_.scale_, width, dev)
            self.centre = torch.as_tensor(detector.c_, dtype=torch.float32, device=dev)
        elif getattr(detector, "preprocessing", False):
            self.mean = _vector(detector.X_mean, width, dev)
            self.scale = _vector(detector.X_std, width, dev) + _STD_EPS

    def _standard(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.scale

    def _rebuild(self, z: Tensor) -> Tensor:
        if self.kind == "vae":
            vae: Any = self.model  # PyOD's VAE network: encode and decode are its own methods
            mu, _ = vae.encode(z)
            return vae.decode(mu)
        return self.model(z)

    def score(self, x: Tensor) -> Tensor:
        z = self._standard(x)
        if self.kind == "deepsvdd":
            return (self.model(z) - self.centre).pow(2).sum(dim=1)
        return (z - self._rebuild(z)).pow(2).sum(dim=1).add(1e-12).sqrt()

    @property
    def reconstructs(self) -> bool:  # type: ignore[override]  # a class attribute in the base; per instance here
        """DeepSVDD has no reconstruction; the autoencoders have one."""
        return self.kind != "deepsvdd"

    def reconstruct(self, x: Tensor) -> Tensor | None:
        """The autoencoder's reconstruction in input units; None for DeepSVDD (it has none)."""
        if self.kind == "deepsvdd":
            return None
        return self._rebuild(self._standard(x)) * self.scale + self.mean

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": type(self.detector).__name__, "kind": self.kind}


class EcdfAdapter(ArrayScoreAdapter):
    """PyOD's ECOD or COPOD, scored against the training rows only, so a row's score never depends on its batch.

    PyOD's ``decision_function`` of these two refits the empirical CDFs on the training rows
    *plus every row of the batch*, so one row's score moves with whatever else is scored with
    it (a search scores thousands of variants at once). Here each row is scored as PyOD scores
    a batch of that one row: tail probabilities ``(count + 1) / (N + 1)`` over the training
    rows, skewness signs of the training rows.
    """

    def __init__(self, detector: Any, threshold: float | None = None, *, eps: float = 0.0, device: Any = "cpu") -> None:
        kind = type(detector).__name__
        train = getattr(detector, "X_train", None)
        if kind not in ("ECOD", "COPOD") or train is None:
            raise TypeError(f"model: expected a fitted PyOD ECOD or COPOD; got {kind}")
        self.detector, self.kind = detector, kind
        super().__init__(
            float(detector.threshold_) if threshold is None else threshold,
            width=int(train.shape[1]),
            eps=eps,
            device=device,
        )
        rows = torch.as_tensor(np.asarray(train, dtype=np.float64), device=self.device)
        self.sorted = rows.t().contiguous().sort(dim=1).values  # [D, N]
        self.count = rows.shape[0]
        centred = rows - rows.mean(dim=0)
        m2, m3 = centred.pow(2).mean(dim=0), centred.pow(3).mean(dim=0)
        self.skew_sign = torch.sign(torch.where(m2 > 0, m3 / m2.pow(1.5), torch.zeros_like(m3)))

    def score(self, x: Tensor) -> Tensor:
        values = x.detach().reshape(x.shape[0], -1).to(self.sorted.dtype).t().contiguous()  # [D, B]
        n = self.count
        below = torch.searchsorted(self.sorted, values, right=True)  # training values <= x
        above = n - torch.searchsorted(self.sorted, values, right=False)  # training values >= x
        left = -torch.log((below + 1.0) / (n + 1.0))
        right = -torch.log((above + 1.0) / (n + 1.0))
        s = self.skew_sign[:, None]
        skewed = left * -torch.sign(s - 1) + right * torch.sign(s + 1)
        if self.kind == "ECOD":
            out = torch.maximum(skewed, torch.maximum(left, right))
        else:
            out = torch.maximum(skewed, (left + right) / 2)
        return out.sum(dim=0).to(torch.float32)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.kind}


def detector_width(detector: Any) -> int | None:
    """How many features a fitted PyOD detector takes, where it records it."""
    for holder in (detector, getattr(detector, "detector_", None)):
        for name in ("n_features_in_", "n_features_", "feature_size"):
            value = getattr(holder, name, None)
            if isinstance(value, (int, np.integer)) and value > 0:
                return int(value)
    train: Any = getattr(detector, "X_train", None)
    return int(train.shape[1]) if getattr(train, "ndim", 0) == 2 else None


def pyod_adapter(
    model: Any, threshold: float | None = None, *, width: int | None = None, eps: float = 0.0, device: Any = None
) -> ModelAdapter:
    """The adapter for a fitted PyOD detector: torch networks differentiable, the rest through ``decision_function``.

    :param width: number of features, for detectors that do not record it (default: what they record).
    """
    if torch_kind(model) is not None:
        return PyodTorchAdapter(model, threshold, eps=eps, device=device)
    if not is_pyod(model):
        raise TypeError(
            f"model: expected a fitted PyOD detector (with decision_scores_ and threshold_); got {type(model).__name__}"
        )
    if type(model).__name__ in ("ECOD", "COPOD") and getattr(model, "X_train", None) is not None:
        return EcdfAdapter(model, threshold, eps=eps, device="cpu" if device is None else device)
    if width is None:
        width = detector_width(model)
    if width is None:
        raise ValueError(
            f"width: {type(model).__name__} does not record how many features it takes; pass "
            f"width=D, or normal= rows to the pyod preset"
        )
    return SklearnAdapter(
        model,
        threshold,
        method="decision_function",
        higher_is_anomalous=True,
        width=width,
        eps=eps,
        device="cpu" if device is None else device,
    )
