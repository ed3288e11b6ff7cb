"""Model adapters: how a detector scores a batch, and what it judges normal.

An adapter is the only place that knows the detector. Searches only call ``score`` (and,
where offered, ``reconstruct``) on whole batches on ``adapter.device``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence, cast

import torch
from torch import Tensor, nn

from deepaid_sdk.checks import (
    as_tensor,
    check_batch,
    check_device,
    check_dtype_range,
    check_finite_number,
    check_output,
)
from deepaid_sdk.normal import NormalData


def module_device(model: nn.Module, name: str = "model") -> torch.device:
    """The one device all of ``model``'s parameters and buffers live on."""
    tensors = list(model.parameters()) + list(model.buffers())
    if not tensors:
        raise ValueError(f"{name}: the module has no parameters or buffers; pass device= explicitly")
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"{name}: parameters are spread over several devices {sorted(map(str, devices))}")
    return devices.pop()


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda" or a.index == b.index:
        return True
    current = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)


def model_device(model: Any, device: Any = None, name: str = "model") -> torch.device:
    """The device an adapter for ``model`` runs on: ``device`` if given (checked against the model's
    parameters), else the one its parameters live on; ``cpu`` for a plain function with no device given."""
    if device is not None:
        dev = check_device(device)
        if isinstance(model, nn.Module) and any(True for _ in model.parameters()):
            where = module_device(model, name)
            if not _same_device(where, dev):
                raise ValueError(
                    f"device: {str(dev)!r} was given but {name}'s parameters are on {str(where)!r}; "
                    f"move the model (model.to({str(dev)!r})) or pass device={str(where)!r}"
                )
        return dev
    if isinstance(model, nn.Module):
        return module_device(model, name)
    return torch.device("cpu")


def check_model_device(model: Any, device: torch.device, name: str = "model") -> None:
    """Cheap (one parameter looked at): ``model`` is still on the adapter's device; a clear error if it was moved."""
    if not isinstance(model, nn.Module):
        return
    first = next(model.parameters(), None)
    if first is not None and not _same_device(first.device, device):
        raise ValueError(
            f"{name}: its parameters are on {str(first.device)!r} but the adapter was built for "
            f"{str(device)!r}: the model was moved after the adapter was built; build a new adapter "
            f"(or move the model back)"
        )


def module_dtype(model: Any) -> torch.dtype | None:
    """The floating dtype of ``model``'s first floating parameter (None for a function or no parameters)."""
    if isinstance(model, nn.Module):
        for p in model.parameters():
            if p.is_floating_point():
                return p.dtype
    return None


def to_dtype(x: Tensor, dtype: torch.dtype | None) -> Tensor:
    """``x`` in the model's floating ``dtype`` (unchanged when None, equal, or ``x`` is not floating)."""
    return x if dtype is None or x.dtype == dtype or not x.is_floating_point() else x.to(dtype)


def first_linear_width(model: Any) -> int | None:
    """The ``in_features`` of an ``nn.Sequential``'s first layer when it is an ``nn.Linear`` (else None).

    Only a Sequential tells for sure which layer sees the input first; other modules are not probed.
    """
    while isinstance(model, nn.Sequential) and len(model) > 0:
        model = model[0]
    if isinstance(model, nn.Linear) and not isinstance(model, nn.modules.lazy.LazyModuleMixin):
        return int(model.in_features)
    return None


class ModelAdapter(ABC):
    """Wraps a detector: batch-first scores, a threshold, and what counts as normal.

    Subclasses implement ``score``; everything else has a default. A sample is an alert when
    its score exceeds ``threshold``; ``eps`` is the margin the fidelity loss asks for below it.
    """

    #: Shape of one sample, or None when any shape is accepted.
    sample_shape: tuple[int, ...] | None = None
    #: dtype inputs are converted to.
    input_dtype: torch.dtype = torch.float32
    #: The smallest score the detector can give (0.0 for an RMSE), or None when scores can be any number
    #: (a ``decision_function``). A threshold below it is an error: every input would be an alert.
    score_lower_bound: float | None = None
    #: Width of the input's last axis the model reads (probed from its first layer), or None when unknown.
    input_width: int | None = None
    #: Capability: ``reconstruct`` gives the detector's normal version of an input. A subclass that
    #: defines ``reconstruct`` has it unless it says otherwise (a class attribute, or a property where
    #: it depends on the instance); searches read this, never the method.
    reconstructs: bool = False
    #: Group name of each flattened feature (features that stand for one cause together: a statistic
    #: over several time windows, the columns of a one-hot field), or None: every feature is its own
    #: group. Conciseness may count groups (``deepaid_sdk.groups``); results show them.
    feature_groups: tuple[str, ...] | None = None

    @classmethod
    def accepts(cls, model: Any) -> bool:
        """Whether this adapter recognises ``model`` on its own (a fitted estimator, an ONNX session...).

        ``deepaid_sdk.model.foreign_adapter`` asks every registered adapter class in registration order
        and builds the first that accepts with ``for_model``; a plugin's adapter joins by overriding this.
        """
        return False

    @classmethod
    def for_model(
        cls, model: Any, threshold: float | None = None, *, width: int | None = None, eps: float = 0.0
    ) -> ModelAdapter:
        """This adapter for a ``model`` it ``accepts`` (``width``: features, where the model cannot tell)."""
        # The accepting classes' own constructor takes the model first; the base class's does not.
        return cast(Any, cls)(model, threshold, width=width, eps=eps)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "reconstruct" in cls.__dict__ and "reconstructs" not in cls.__dict__:
            cls.reconstructs = True

    def __init__(self, threshold: float | None, *, eps: float = 0.0, device: Any = "cpu") -> None:
        self._threshold = None if threshold is None else self._check_threshold(threshold)
        self.eps = check_finite_number(eps, "eps")
        if self.eps < 0:
            raise ValueError(f"eps: expected a margin >= 0; got {self.eps}")
        self._device = check_device(device)

    @property
    def device(self) -> torch.device:
        """The device the model runs on; searches build their tensors there."""
        return self._device

    @property
    def threshold(self) -> float:
        """The alert threshold (a score above it is an alert); a ValueError until given or calibrated."""
        if self._threshold is None:
            raise ValueError("threshold: not set; pass threshold= or call calibrate(normal_data)")
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = self._check_threshold(value)

    @property
    def has_threshold(self) -> bool:
        """Whether a threshold was given or calibrated (``threshold`` raises until then)."""
        return self._threshold is not None

    def _check_threshold(self, value: Any) -> float:
        """A finite number (a string is a TypeError), not below ``score_lower_bound``."""
        number = check_finite_number(value, "threshold")
        bound = self.score_lower_bound
        if bound is not None and number < bound:
            raise ValueError(
                f"threshold: {type(self).__name__} scores are never below {bound} (an error measure); got {number}"
            )
        return number

    def check_model_device(self) -> None:
        """A clear error when the model was moved to another device after this adapter was built."""
        check_model_device(getattr(self, "model", None), self.device)

    def scores(self, x: Any, *, batch_size: int = 8192, name: str = "x") -> Tensor:
        """Scores of user data (checked, no gradient), in chunks; a convenience outside hot paths."""
        prepared = self.prepare(x, name)
        with torch.no_grad():
            return torch.cat([self.score(chunk) for chunk in prepared.split(batch_size)])

    #: The normal rows recorded by ``calibrate``/``observe_normal`` (``deepaid_sdk.normal.NormalData``).
    normal: NormalData | None = None

    def calibrate(self, normal: Any, percentile: float = 99.0) -> float:
        """Set the threshold to the ``percentile`` of the scores of normal data, and return it.

        The normal rows are recorded (``observe_normal``), so searches can aim for a typically-normal
        reference rather than one just below the threshold.
        """
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile: expected a value in (0, 100]; got {percentile}")
        self.observe_normal(normal)
        assert self.normal is not None
        self.threshold = self.normal.threshold_at(percentile)
        return self.threshold

    def observe_normal(self, normal: Any) -> None:
        """Record normal rows (prepared and scored once: ``NormalData``) without touching the threshold."""
        self.normal = NormalData.of(self, normal)

    @property
    def knows_normal_scores(self) -> bool:
        """Whether normal rows were recorded (``calibrate``/``observe_normal``)."""
        return self.normal is not None

    def normal_score_quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the recorded normal scores, or None when none were recorded."""
        if not 0.0 <= float(q) <= 1.0:
            raise ValueError(f"q: expected a quantile in [0, 1]; got {q}")
        return None if self.normal is None else self.normal.score_quantile(q)

    @abstractmethod
    def score(self, x: Tensor) -> Tensor:
        """Anomaly scores ``[B]`` of a prepared batch, differentiable where the model is."""

    def is_normal(self, x: Tensor, scores: Tensor | None = None) -> Tensor:
        """``[B]`` bool: the detector raises no alert (score at or below the threshold).

        ``scores``: the batch's scores where the caller has them already (no second model call).
        """
        if scores is None:
            with torch.no_grad():
                scores = self.score(x)
        return scores <= self.threshold

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
        if self.input_width is not None and t.ndim >= 2 and t.shape[-1] != self.input_width:
            raise ValueError(
                f"{name}: expected {self.input_width} features (the width of the model's first layer) "
                f"in the last axis; got {t.shape[-1]} (shape {list(t.shape)})"
            )
        check_dtype_range(t, name, self.input_dtype)
        self.check_model_device()
        return t.to(device=self.device, dtype=self.input_dtype)

    def describe(self) -> dict[str, Any]:
        """Recorded parameters, for reproducibility."""
        return {
            "adapter": type(self).__name__,
            "threshold": self._threshold,
            "eps": self.eps,
            "device": str(self.device),
            "feature_groups": None if self.feature_groups is None else len(set(self.feature_groups)),
        }


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
        super().__init__(threshold, eps=eps, device=model_device(model, device))
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else None
        self.input_width = first_linear_width(model)
        #: The model's own floating dtype: inputs are cast to it for the call, outputs back (float64 models work).
        self.model_dtype = module_dtype(model)

    def score(self, x: Tensor) -> Tensor:
        """The model's scores ``[B]``; a model returning another shape is a ValueError naming the adapter that fits."""
        check_model_device(self.model, self.device)
        scores = self.model(to_dtype(x, self.model_dtype))
        if not isinstance(scores, Tensor) or scores.shape != (x.shape[0],):
            hint = ""
            if isinstance(scores, Tensor) and tuple(scores.shape) == tuple(x.shape):
                hint = (
                    "; it returns its input's shape, like an autoencoder: use ReconstructionAdapter(model) "
                    "or create('tabular', model=...)"
                )
            got = list(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
            raise ValueError(
                f"model: a score model must return one score per row, shape [{x.shape[0]}]; got {got}{hint}"
            )
        return scores.to(x.dtype) if scores.is_floating_point() else scores


class ReconstructionAdapter(ModelAdapter):
    """A detector that reconstructs (or predicts) its input: score = per-sample RMSE.

    ``target`` and ``output`` pick what is compared; by default the whole input against the
    model's output, which must have the input's shape. Scores are never negative, so a negative
    threshold is an error.
    """

    score_lower_bound = 0.0

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
        super().__init__(threshold, eps=eps, device=model_device(model, device))
        self.sample_shape = tuple(sample_shape) if sample_shape is not None else None
        self.input_width = first_linear_width(model)
        #: The model's own floating dtype: inputs are cast to it for the call, outputs back (float64 models work).
        self.model_dtype = module_dtype(model)

    def target(self, x: Tensor) -> Tensor:
        """What the model's output is compared with (the input itself for an autoencoder)."""
        return x

    def output(self, x: Tensor) -> Tensor:
        """The model's output for ``x``, checked to have ``target(x)``'s shape and cast to ``x``'s dtype."""
        check_model_device(self.model, self.device)
        out = self.model(to_dtype(x, self.model_dtype))
        return check_output(out, self.target(x).shape, "model", "output (the reconstruction)").to(x.dtype)

    def score(self, x: Tensor) -> Tensor:
        """Per-sample RMSE of ``output(x)`` against ``target(x)``, ``[B]``.

        A tiny floor under the root keeps the gradient finite where the error is zero.
        """
        diff = (self.output(x) - self.target(x)).reshape(x.shape[0], -1)
        return torch.sqrt(diff.pow(2).mean(dim=1) + 1e-12)

    def reconstruct(self, x: Tensor) -> Tensor:
        """The model's output: the detector's own normal version of ``x``, a natural start for the search."""
        return self.output(x)


#: Rows per model call when scoring variants: bounds memory; a row's result never depends on it.
SCORE_CHUNK = 65_536


@torch.no_grad()
def score_in_chunks(adapter: ModelAdapter, x: Tensor, chunk: int = SCORE_CHUNK) -> Tensor:
    """Scores of ``x`` in row chunks of ``chunk`` (memory bound; every row is scored on its own)."""
    return torch.cat([adapter.score(part) for part in x.split(chunk)]) if x.shape[0] else x.new_zeros(0)
