"""Adapter for next-vector predictors ``[B, W, D] -> [B, D]`` (any ``nn.Module`` with that signature).

A sample is ``[W + 1, D]``: W context steps and the actual vector. The score is the RMSE between
the model's prediction and the actual vector; the reconstruction is the sample with its last row
replaced by the prediction, which gives the search its reconstruction start. What the model reads
is ``input``: ``"context"`` (default) feeds it the W context steps ``x[:, :-1]`` (a forecaster);
``"window"`` feeds it the whole sample ``x``, the actual vector included (models trained to
reproduce the window's last step, such as the public 2021 multivariate LSTM). ``detect_input``
tells them apart by checking each against the model's own scores.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from deepaid_plugin_multits.windows import sliding_windows
from deepaid_sdk.checks import as_tensor, check_positive_int
from deepaid_sdk.model.adapters import ReconstructionAdapter, check_model_device
from deepaid_sdk.model.rnn import rnn_gradients, rnn_train_mode  # noqa: F401  # re-exported by the package

#: How gradients through cuDNN RNNs are made possible on CUDA (cuDNN's RNN backward needs train mode):
#: ``train_rnn`` is ``deepaid_sdk.model.rnn.rnn_train_mode`` (thread-safe, dropout untouched); ``none``:
#: the model handles it.
RNN_BACKWARD = ("train_rnn", "none")
#: What the model reads of a sample ``[W + 1, D]``: its W context steps, or the whole window.
INPUTS = ("context", "window")
#: Relative tolerance of ``detect_input``: an input mode matches when every checked score is within it.
INPUT_RTOL = 1e-3


class LSTMPredictorAdapter(ReconstructionAdapter):
    """A next-vector predictor as a detector: score = RMSE(prediction from W steps, actual vector).

    :param model: any ``nn.Module`` mapping ``[B, W, D]`` to ``[B, D]``.
    :param window: W, the number of context steps the model reads.
    :param features: D; read from ``model.features`` when omitted.
    :param rnn_backward: on CUDA, how gradients through cuDNN RNNs are obtained without touching
        dropout: ``"train_rnn"`` (train mode on the RNN modules only, dropout 0, restored after;
        see ``deepaid_sdk.model.rnn``), or ``"none"`` (the model handles it).
    :param input: ``"context"``: the model reads ``x[:, :-1]`` (``[B, W, D]``, the steps before the
        actual vector); ``"window"``: it reads the whole sample ``x`` (``[B, W + 1, D]``, the actual
        vector included). ``detect_input`` finds it from the model's own scores.
    """

    def __init__(
        self,
        model: nn.Module,
        window: int,
        features: int | None = None,
        threshold: float | None = None,
        *,
        eps: float = 0.0,
        device: Any = None,
        rnn_backward: str = "train_rnn",
        input: str = "context",
    ) -> None:
        if input not in INPUTS:
            raise ValueError(
                f"input: expected one of {INPUTS} (what the model reads: the W context steps, or the whole "
                f"window with the actual vector); got {input!r}"
            )
        #: What the model reads (``INPUTS``); ``input_detection`` says how it was settled.
        self.input = input
        self.input_detection = "given"
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module mapping [B, W, D] to [B, D]; got {type(model).__name__}")
        if features is None:
            features = getattr(model, "features", None)
            if features is None:
                raise ValueError("features: pass D, the number of features per step (the model has no .features)")
        self.window = check_positive_int(window, "window")
        self.features = check_positive_int(features, "features")
        if rnn_backward not in RNN_BACKWARD:
            raise ValueError(f"rnn_backward: expected one of {RNN_BACKWARD}; got {rnn_backward!r}")
        self.rnn_backward = rnn_backward
        #: Whether scores are differentiable with respect to the context rows (see ``fixed_context``).
        self.context_gradient = True
        #: Median score of the normal data the threshold was calibrated on (None before ``calibrate``).
        self.typical_score: float | None = None
        super().__init__(model, threshold, eps=eps, sample_shape=(self.window + 1, self.features), device=device)

    def rnn_context(self, device: torch.device | str) -> contextlib.AbstractContextManager[Any]:
        """What a model call on ``device`` is wrapped in so that its graph has a backward.

        Only CUDA with gradients enabled needs anything: cuDNN's RNN backward exists only for
        RNNs run in train mode.
        """
        return rnn_gradients(None if self.rnn_backward == "none" else self.model, device)

    def target(self, x: Tensor) -> Tensor:
        """The actual vector: the sample's last row."""
        return x[:, -1]

    def all_steps(self, min_context: int = 1) -> AllStepsAdapter:
        """An adapter on the same model that scores every step it can predict (see ``AllStepsAdapter``).

        It has its own threshold and per-step scale: calibrate it on normal data before use.
        """
        return AllStepsAdapter(
            self.model,
            self.window,
            self.features,
            min_context=min_context,
            device=self.device,
            rnn_backward=self.rnn_backward,
            input=self.input,
        )

    def _call(self, fn: Any, x: Tensor) -> Tensor:
        """``fn(x)`` under the RNN context (gradient through the context) or without gradient."""
        if self.context_gradient:
            with self.rnn_context(x.device):
                return fn(x)
        with torch.no_grad():
            return fn(x)

    def fixed_context(self) -> LSTMPredictorAdapter:
        """A copy for searches that never change the context (the last-step mode).

        Its prediction is a constant of the search: computed without gradient, so no backward
        runs through the model (about half of a search step's cost). The scores are the same;
        only the gradient with respect to the W context rows, which such a search never uses,
        is zero. Model, threshold and settings are shared at the time of the call. A model that reads
        the whole window (``input="window"``) sees the actual vector the search changes: its
        prediction is no constant, and the adapter itself is returned.
        """
        if self.input == "window":
            return self
        twin = copy.copy(self)
        twin.context_gradient = False
        return twin

    def model_input(self, x: Tensor) -> Tensor:
        """What the model reads of samples ``[B, W + 1, D]``: ``x[:, :-1]`` (``input="context"``) or ``x``."""
        return x[:, :-1] if self.input == "context" else x

    def output(self, x: Tensor) -> Tensor:
        """The model's prediction ``[B, D]`` of the actual vector (from what ``input`` says it reads)."""
        check_model_device(self.model, self.device)
        seen = self.model_input(x)
        out = self._call(self.model, seen)
        expected = (x.shape[0], self.features)
        if not isinstance(out, Tensor) or tuple(out.shape) != expected:
            got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"model: expected a prediction [B, D] = {list(expected)} from input "
                f"{list(seen.shape)} (input={self.input!r}); got {got}"
            )
        return out

    def reconstruct(self, x: Tensor) -> Tensor:
        """The sample with its actual vector replaced by the prediction."""
        return torch.cat([x[:, :-1], self.output(x)[:, None].to(x.dtype)], dim=1)

    def prepare(self, x: Any, name: str = "x") -> Tensor:
        """Check a batch of samples ``[B, W + 1, D]``; errors say which axis is wrong and why."""
        t = as_tensor(x, name)
        w, d = self.window, self.features
        if t.ndim == 2 and tuple(t.shape) == (w + 1, d):
            raise ValueError(
                f"{name}: got one sample [W + 1, D] = {[w + 1, d]}; expected a batch [B, W + 1, D] "
                "(add a batch axis, or use Interpreter.interpret)"
            )
        if t.ndim != 3:
            raise ValueError(
                f"{name}: expected a batch of windows [B, W + 1, D] = [B, {w + 1}, {d}]; got shape {list(t.shape)}"
            )
        if t.shape[2] != d:
            raise ValueError(f"{name}: expected D={d} features per step (last axis); got {t.shape[2]}")
        if t.shape[1] != w + 1:
            hint = (
                " (that is W: append the actual vector to each window, see sliding_windows)" if t.shape[1] == w else ""
            )
            raise ValueError(
                f"{name}: expected windows of W + 1 = {w + 1} steps (W={w} context steps, then the "
                f"actual vector); got {t.shape[1]}{hint}"
            )
        return super().prepare(t, name)

    def calibrate(self, normal: Any, percentile: float = 99.0) -> float:
        """Set the threshold from normal samples ``[N, W + 1, D]``; also record their median score."""
        threshold = super().calibrate(normal, percentile)
        self.typical_score = float(torch.median(self.scores(normal).double().cpu()))
        return threshold

    def calibrate_series(self, series: Any, percentile: float = 99.0) -> float:
        """Set the threshold to the ``percentile`` of the scores of every window of a normal series."""
        return self.calibrate(sliding_windows(series, self.window), percentile)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "window": self.window,
            "features": self.features,
            "rnn_backward": self.rnn_backward,
            "input": self.input,
            "input_detection": self.input_detection,
            "typical_score": self.typical_score,
            "context_gradient": self.context_gradient,
        }


class AllStepsAdapter(LSTMPredictorAdapter):
    """Scores every step of the window the predictor can predict, not only the last one.

    Step t of a sample ``[W + 1, D]`` (for ``min_context <= t <= W``) is predicted from the steps
    before it inside the window, and its error counts in the score, so an odd *context* cell
    shows up in the score and in its gradient (the last-step score sees it only through the
    prediction of the last vector). Each step's RMSE is divided by its RMS on normal data
    (``step_scale``, from ``calibrate``), so a step predicted from a short prefix, less accurate
    even on normal data, does not dominate; the score is the power mean ``mean_t(z_t ** 8) ** (1 / 8)``
    of these over the steps (``POWER``): one odd step among W is not averaged away as in a plain
    mean, and unlike a maximum the gradient reaches every step. A normal window scores about 1.
    The reconstruction is the window with every scored step replaced by its prediction.

    Predictions come from one call of ``model.predict_steps(x)`` (``[B, W, D] -> [B, W, D]``, row
    t predicted from rows ``<= t``) where the model has it (``LSTMPredictor`` does: one LSTM
    pass), else from one model call per prefix length ``min_context .. W``, each on the whole batch.

    :param min_context: the fewest context steps a scored step is predicted from (1 .. W).
    """

    #: Exponent of the power mean over steps. Lower (towards a plain mean), fixing some of the
    #: spiked cells of a step already looks normal and the others are left; standardising single
    #: cells instead of steps made the search reach a normal window less often.
    POWER = 8.0

    def __init__(
        self,
        model: nn.Module,
        window: int,
        features: int | None = None,
        threshold: float | None = None,
        *,
        min_context: int = 1,
        eps: float = 0.0,
        device: Any = None,
        rnn_backward: str = "cudnn_off",
        input: str = "context",
    ) -> None:
        super().__init__(
            model, window, features, threshold, eps=eps, device=device, rnn_backward=rnn_backward, input=input
        )
        self.min_context = check_positive_int(min_context, "min_context")
        if self.min_context > self.window:
            raise ValueError(f"min_context: expected at most W={self.window} context steps; got {self.min_context}")
        #: ``[W + 1 - min_context]`` RMS prediction error of each scored step on normal data (None: 1).
        self.step_scale: Tensor | None = None

    @property
    def scored_steps(self) -> int:
        """How many steps of a window are scored: ``W + 1 - min_context``."""
        return self.window + 1 - self.min_context

    def target(self, x: Tensor) -> Tensor:
        """The scored steps ``[B, W + 1 - min_context, D]``."""
        return x[:, self.min_context :]

    def _predict_all(self, seen: Tensor) -> Tensor:
        # step t is predicted from rows < t (input="context") or rows <= t (input="window")
        reach = 0 if self.input == "context" else 1
        steps = getattr(self.model, "predict_steps", None)
        if callable(steps):
            return steps(seen)[:, self.min_context - 1 + reach :]
        prefixes = range(self.min_context + reach, self.window + 1 + reach)
        return torch.stack([self.model(seen[:, :t]) for t in prefixes], dim=1)

    def output(self, x: Tensor) -> Tensor:
        """Predictions ``[B, W + 1 - min_context, D]`` of the scored steps, each from the steps before it
        (with ``input="window"``: from the steps up to and including it)."""
        out = self._call(self._predict_all, self.model_input(x))
        expected = (x.shape[0], self.scored_steps, self.features)
        if not isinstance(out, Tensor) or tuple(out.shape) != expected:
            got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"model: expected predictions {list(expected)} of the steps {self.min_context}..W "
                f"of windows [B, W + 1, D]; got {got}"
            )
        return out

    def step_errors(self, x: Tensor) -> Tensor:
        """``[B, W + 1 - min_context]`` mean squared prediction error of each scored step."""
        return (self.output(x) - self.target(x)).pow(2).mean(dim=2)

    def score(self, x: Tensor) -> Tensor:
        z2 = self.step_errors(x)  # squared RMSE per step, then standardised: z_t ** 2
        if self.step_scale is not None:
            z2 = z2 / self.step_scale.to(z2.device, z2.dtype).pow(2)
        return (z2.pow(self.POWER / 2).mean(dim=1) + 1e-12).pow(1.0 / self.POWER)

    def reconstruct(self, x: Tensor) -> Tensor:
        """The sample with every scored step replaced by its prediction."""
        return torch.cat([x[:, : self.min_context], self.output(x).to(x.dtype)], dim=1)

    def fit_step_scale(self, normal: Any) -> Tensor:
        """Set ``step_scale`` to each scored step's RMS prediction error on normal samples ``[N, W + 1, D]``."""
        x = self.prepare(normal, "normal")
        with torch.no_grad():
            sq = torch.cat([self.step_errors(part) for part in x.split(4096)]).double().mean(dim=0)
        self.step_scale = sq.sqrt().clamp_min(1e-6).float()
        return self.step_scale

    def calibrate(self, normal: Any, percentile: float = 99.0) -> float:
        """Per-step scale, then threshold and median score, all from normal samples ``[N, W + 1, D]``."""
        self.fit_step_scale(normal)
        return super().calibrate(normal, percentile)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "score": "all steps",
            "min_context": self.min_context,
            "step_scale": None if self.step_scale is None else self.step_scale.tolist(),
        }


def detect_input(
    model: nn.Module,
    window: int,
    features: int | None,
    samples: Tensor,
    own_scores: Any,
    *,
    rnn_backward: str = "train_rnn",
) -> tuple[str, str]:
    """``(input, how it was found)``: which of ``INPUTS`` reproduces the model's own scores of ``samples``.

    ``own_scores`` are the model's scores (the RMSE of its prediction of the last vector) of the
    samples ``[N, W + 1, D]``, an array ``[N]``, or a callable on samples returning them. A mode
    matches when every score is within ``INPUT_RTOL``; where neither does, a ValueError gives the
    median ratio of each to the model's own (a score that is not this RMSE cannot be checked).
    """
    samples = samples[:256]
    if callable(own_scores):
        with torch.no_grad():
            own = own_scores(samples)
    else:
        own = own_scores[: samples.shape[0]] if hasattr(own_scores, "__getitem__") else own_scores
    theirs = torch.as_tensor(np.asarray(own.detach().cpu() if isinstance(own, Tensor) else own, dtype=np.float64))
    theirs = theirs.reshape(-1)
    if theirs.shape[0] != samples.shape[0]:
        raise ValueError(
            f"model_score: expected one score per normal sample ({samples.shape[0]} checked); got {theirs.shape[0]}"
        )
    ratios: dict[str, float] = {}
    matched = []
    for mode in INPUTS:
        adapter = LSTMPredictorAdapter(model, window, features, rnn_backward=rnn_backward, input=mode)
        with torch.no_grad():
            ours = adapter.score(samples.to(adapter.device)).double().cpu()
        close = torch.isclose(ours, theirs, rtol=INPUT_RTOL, atol=1e-9)
        ratios[mode] = float(torch.median(ours / theirs.clamp_min(1e-12)))
        if bool(close.all()):
            matched.append(mode)
    checked = f"on {samples.shape[0]} normal samples"
    if not matched:
        raise ValueError(
            "model_score: neither input mode reproduces the model's own scores "
            f"{checked} (median ratio ours/yours: context {ratios['context']:.3g}, window {ratios['window']:.3g}); "
            "the score must be the RMSE of the prediction of each sample's last vector; pass input= "
            f"{INPUTS} to choose without the check"
        )
    if len(matched) == 2:
        return "context", f"detected: both input modes reproduce model_score {checked} (context taken)"
    return matched[0], f"detected: input={matched[0]!r} reproduces model_score {checked}"
