"""Model adapters: how a detector scores a batch, and what it judges normal.

An adapter is the only place that knows the detector. Searches only call ``score`` (and,
where offered, ``reconstruct``) on whole batches on ``adapter.device``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from deepaid_sdk.checks import as_tensor, check_batch, check_finite_number


def module_device(model: nn.Module, name: str = "model") -> torch.device:
    """The one device all of ``model``'s parameters and buffers live on."""
    tensors = list(model.parameters()) + list(model.buffers())
    if not tensors:
        raise ValueError(f"{name}: the module has no parameters or buffers; pass device= explicitly")
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"{name}: parameters are spread over several devices {sorted(map(str, devices))}")
    return devices.pop()


class ModelAdapter(ABC):
    """Wraps a detector: batch-first scores, a threshold, and what counts as normal.

    Subclasses implement ``score``; everything else has a default. A sample is an alert when
    its score exceeds ``threshold``; ``eps`` is the margin the fidelity loss asks for below it.
    """

    #: Shape of one sample, or None when any shape is accepted.
    sample_shape: tuple[int, ...] | None = None
    #: dtype inputs are converted to.
    input_dtype: torch.dtype = torch.float32

    def __init__(self, threshold: float | None, *, eps: float = 0.0, device: Any = "cpu") -> None:
        self._threshold = None if threshold is None else check_finite_number(threshold, "threshold")
        self.eps = check_finite_number(eps, "eps")
        if self.eps < 0:
            raise ValueError(f"eps: expected a margin >= 0; got {self.eps}")
        self._device = torch.device(device)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def threshold(self) -> float:
        if self._threshold is None:
            raise ValueError("threshold: not set; pass threshold= or call calibrate(normal_data)")
        return self._threshold

    @property
    def has_threshold(self) -> bool:
        """Whether a threshold was given or calibrated (``threshold`` raises until then)."""
        return self._threshold is not None

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = check_finite_number(value, "threshold")

    def scores(self, x: Any, *, batch_size: int = 8192, name: str = "x") -> Tensor:
        """Scores of user data (checked, no gradient), in chunks; a convenience outside hot paths."""
        prepared = self.prepare(x, name)
        with torch.no_grad():
            return torch.cat([self.score(chunk) for chunk in prepared.split(batch_size)])

    def calibrate(self, normal: Any, percentile: float = 99.0) -> float:
        """Set the threshold to the ``percentile`` of the scores of normal data, and return it.

        The normal scores' distribution is also recorded (``observe_normal``), so searches can aim
        for a typically-normal reference rather than one just below the threshold.
        """
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile: expected a value in (0, 100]; got {percentile}")
        scores = self._record_normal(normal)
        self.threshold = float(torch.quantile(scores, float(percentile) / 100.0))
        return self.threshold

    #: Points of the recorded normal-score distribution (quantiles 0, 0.001, ..., 1).
    _NORMAL_POINTS = 1001

    def observe_normal(self, normal: Any) -> None:
        """Record the score distribution of normal rows without touching the threshold."""
        self._record_normal(normal)

    def _record_normal(self, normal: Any) -> Tensor:
        scores = self.scores(normal, name="normal").double().cpu()
        if scores.numel() == 0:
            raise ValueError("normal: expected at least one normal row; got none")
        if not bool(torch.isfinite(scores).all()):
            raise ValueError("normal: the model gave non-finite scores to some normal rows")
        grid = torch.linspace(0.0, 1.0, self._NORMAL_POINTS, dtype=torch.float64)
        self._normal_quantiles = torch.quantile(scores, grid)
        return scores

    @property
    def knows_normal_scores(self) -> bool:
        """Whether the normal data's score distribution was recorded (``calibrate``/``observe_normal``)."""
        return getattr(self, "_normal_quantiles", None) is not None

    def normal_score_quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the recorded normal scores, or None when none were recorded."""
        if not 0.0 <= float(q) <= 1.0:
            raise ValueError(f"q: expected a quantile in [0, 1]; got {q}")
        points = getattr(self, "_normal_quantiles", None)
        if points is None:
            return None
        pos = float(q) * (len(points) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(points) - 1)
        return float(points[lo] + (points[hi] - points[lo]) * (pos - lo))

    @abstractmethod
    def score(self, x: Tensor) -> Tensor:
        """Anomaly scores ``[B]`` of a prepared batch, differentiable where the model is."""

    def is_normal(self, x: Tensor) -> Tensor:
        """``[B]`` bool: the detector raises no alert (score at or below the threshold)."""
        with torch.no_grad():
            return self.score(x) <= self.threshold

    def fidelity_loss(self, x: Tensor, eps: float | None = None) -> Tensor:
        """``relu(score - (threshold - eps))``: zero once the sample is normal with margin eps."""
        margin = self.eps if eps is None else eps
        return torch.relu(self.score(x) - (self.threshold - margin))

    def reconstruct(self, x: Tensor) -> Tensor | None:
        """The detector's own idea of the normal version of ``x`` (same shape), or None if it has none."""
        return None

    def prepare(self, x: Any, name: str = "x") -> Tensor:
        """Check and convert user input to a batch on the adapter's device; errors name ``name``."""
        t = as_tensor(x, name)
        if t.is_floating_point() and not self.input_dtype.is_floating_point:
            whole = torch.isfinite(t) & (t == torch.round(t))
            if not bool(whole.all()):
                raise TypeError(f"{name}: expected whole numbers ({self.input_dtype}); got fractional values")
        check_batch(t, name, self.sample_shape)
        return t.to(device=self.device, dtype=self.input_dtype)

    def describe(self) -> dict[str, Any]:
        """Recorded parameters, for reproducibility."""
        return {"adapter": type(self).__name__, "threshold": self._threshold, "eps": self.eps,
                "device": str(self.device)}


def _as_scorer(model: Any, name: str) -> Callable[[Tensor], Tensor]:
    if isinstance(model, nn.Module) or callable(model):
        return model
    raise TypeError(f"{name}: expected an nn.Module or a callable; got {type(model).__name__}")


class ScoreAdapter(ModelAdapter):
    """A detector given as ``score(x) -> [B]``: a function or an ``nn.Module``."""

    def __init__(
        self,
        model: Callable[[Tensor], Tensor] | nn.Module,
        threshold: float | None = None,
        *,
        eps: float = 0.0,
        sample_shape: Sequence[int] | None = None,
        device: Any = None,
    ) -> None:
        self.model = _as_scorer(model, "model")
        if device is None:
            device = module_device(model) if isinstance(model, nn.Module) else "cpu"
        super().__init__(threshold, eps=eps, device=device)
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else None

    def score(self, x: Tensor) -> Tensor:
        scores = self.model(x)
        if not isinstance(scores, Tensor) or scores.shape != (x.shape[0],):
            got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
            raise ValueError(f"model: a score model must return one score per row, shape [{x.shape[0]}]; got {got}")
        return scores


class ReconstructionAdapter(ModelAdapter):
    """A detector that reconstructs (or predicts) its input: score = per-sample RMSE.

    ``target`` and ``output`` pick what is compared; by default the whole input against the
    model's output, which must have the input's shape.
    """

    def __init__(
        self,
        model: nn.Module,
        threshold: float | None = None,
        *,
        eps: float = 0.0,
        sample_shape: Sequence[int] | None = None,
        device: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module; got {type(model).__name__}")
        self.model = model
        super().__init__(threshold, eps=eps, device=module_device(model) if device is None else device)
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else None

    def target(self, x: Tensor) -> Tensor:
        """What the model's output is compared with (the input itself for an autoencoder)."""
        return x

    def output(self, x: Tensor) -> Tensor:
        out = self.model(x)
        expected = self.target(x).shape
        if not isinstance(out, Tensor) or out.shape != expected:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"model: output shape {got} differs from the expected {tuple(expected)}")
        return out

    def score(self, x: Tensor) -> Tensor:
        diff = (self.output(x) - self.target(x)).reshape(x.shape[0], -1)
        return torch.sqrt(diff.pow(2).mean(dim=1) + 1e-12)

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.output(x)
