"""Adapters for tabular detectors: autoencoders ``[B, D] -> [B, D]`` and score models ``[B, D] -> [B]``.

Both are the core's adapters (score = per-sample RMSE of the reconstruction; or the model's
own score); what is tabular here is knowing the width ``D`` (given, or read from the first
``nn.Linear``) and checking the model on one row of zeros when the adapter is created, so a
model of the wrong shape fails at once with what was expected and what came back.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.model.adapters import (
    ModelAdapter,
    ReconstructionAdapter,
    ScoreAdapter,
    check_model_device,
    model_device,
    module_dtype,
    to_dtype,
)

#: ``output=``: which part of the model's output is the reconstruction.
OutputSelector = int | Callable[[Tensor], Tensor] | None

_STOCHASTIC = (nn.Dropout, nn.AlphaDropout, nn.modules.batchnorm._BatchNorm)


def infer_width(model: Any, width: int | None = None) -> int:
    """``width`` if given, else the ``in_features`` of the model's first ``nn.Linear``."""
    if width is not None:
        return check_positive_int(width, "width")
    if isinstance(model, nn.Module):
        for module in model.modules():
            if isinstance(module, nn.Linear) and not isinstance(module, nn.modules.lazy.LazyModuleMixin):
                return int(module.in_features)
    raise ValueError(
        f"width: cannot tell how many features {type(model).__name__} takes (no nn.Linear "
        "layer to read it from); pass width=D"
    )


def _shape(value: Any) -> str:
    if isinstance(value, Tensor):
        return str(list(value.shape))
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(_shape(v) for v in value)})"
    return type(value).__name__


def _probe(
    fn: Callable[[Tensor], Any], width: int, device: torch.device, what: str, dtype: torch.dtype | None = None
) -> Any:
    """Call ``fn`` on one row of zeros ``[1, width]`` (the model's dtype); a clear error if that fails."""
    dtype = dtype or torch.float32
    try:
        with torch.no_grad():
            return fn(torch.zeros(1, width, device=device, dtype=dtype))
    except Exception as exc:
        text = str(exc)
        dtype_error = "dtype" in text.lower() or (
            "type" in text.lower() and any(t in text for t in ("Double", "Float", "Half"))
        )
        hint = f"; the model's layers may not all be {dtype}" if dtype_error else f"; is width={width} right?"
        raise ValueError(
            f"model: calling the {what} on one row of zeros [1, {width}] failed ({type(exc).__name__}: {text}){hint}"
        ) from None


def _warn_if_training(model: nn.Module) -> None:
    if model.training and any(isinstance(m, _STOCHASTIC) for m in model.modules()):
        warnings.warn(
            "model is in training mode and has dropout or batch norm: its scores are random; "
            "call model.eval() before explaining",
            stacklevel=3,
        )


class AutoencoderAdapter(ReconstructionAdapter):
    """A tabular autoencoder (plain, denoising, or a VAE's mean path): score = RMSE of its reconstruction.

    :param width: number of features ``D``; default: the first ``nn.Linear``'s ``in_features``.
    :param output: how to get the reconstruction: None (``model(x)`` is it), an index into a
        tuple output (a VAE returning ``(reconstruction, mu, logvar)``: ``output=0``), or a
        function ``x -> reconstruction`` (e.g. ``lambda x: vae.decode(vae.encode(x)[0])`` for the mean).
    """

    def __init__(
        self,
        model: nn.Module,
        threshold: float | None = None,
        *,
        width: int | None = None,
        output: OutputSelector = None,
        eps: float = 0.0,
        device: Any = None,
        probed: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module autoencoder; got {type(model).__name__}")
        if output is not None and not callable(output) and (isinstance(output, bool) or not isinstance(output, int)):
            raise TypeError(
                f"output: expected None, a tuple index or a function x -> reconstruction; got {type(output).__name__}"
            )
        d = infer_width(model, width)
        super().__init__(model, threshold, eps=eps, sample_shape=(d,), device=model_device(model, device))
        self.width = d
        self.select = output
        _warn_if_training(model)
        # ``probed``: the model's output on one row of zeros where ``tabular_adapter`` has it (one call, not two).
        got = (
            _probe(self._forward, d, self.device, "autoencoder", self.model_dtype)
            if probed is None or output is not None
            else probed
        )
        if not isinstance(got, Tensor) or tuple(got.shape) != (1, d):
            hint = ""
            if isinstance(got, (tuple, list)):
                hint = "; pass output=INDEX to pick the reconstruction from it"
            elif isinstance(got, Tensor) and tuple(got.shape) in ((1,), (1, 1)):
                hint = "; it looks like a score model: use ScoreAdapter or create('tabular', ..., adapter='score')"
            raise ValueError(f"model: an autoencoder must map [1, {d}] to [1, {d}]; got {_shape(got)}{hint}")

    def _forward(self, x: Tensor) -> Any:
        if callable(self.select):
            return self.select(x)
        out = self.model(x)
        if isinstance(self.select, int):
            if not isinstance(out, (tuple, list)):
                raise ValueError(f"output={self.select}: the model returns {_shape(out)}, not a tuple")
            return out[self.select]
        return out

    def output(self, x: Tensor) -> Tensor:
        check_model_device(self.model, self.device)
        out = self._forward(to_dtype(x, self.model_dtype))
        if not isinstance(out, Tensor) or out.shape != x.shape:
            raise ValueError(f"model: reconstruction {_shape(out)} differs from the input {list(x.shape)}")
        return out.to(x.dtype)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "width": self.width}


def score_adapter(
    model: Callable[[Tensor], Tensor] | nn.Module,
    threshold: float | None = None,
    *,
    width: int | None = None,
    eps: float = 0.0,
    device: Any = None,
    probed: Any = None,
) -> ScoreAdapter:
    """The core ``ScoreAdapter`` for a tabular score model, checked on one row: it must return ``[1]``
    (``probed``: its output on one row of zeros where the caller has it already)."""
    d = infer_width(model, width)
    adapter = ScoreAdapter(model, threshold, eps=eps, sample_shape=(d,), device=device)
    if isinstance(model, nn.Module):
        _warn_if_training(model)
    got = _probe(adapter.model, d, adapter.device, "score model", adapter.model_dtype) if probed is None else probed
    if not isinstance(got, Tensor) or tuple(got.shape) != (1,):
        hint = (
            "; it looks like an autoencoder: use adapter='autoencoder'"
            if isinstance(got, Tensor) and tuple(got.shape) == (1, d)
            else ""
        )
        raise ValueError(f"model: a score model must map [1, {d}] to one score per row, [1]; got {_shape(got)}{hint}")
    return adapter


ADAPTER_KINDS = ("auto", "autoencoder", "score")


def tabular_adapter(
    model: Any,
    threshold: float | None = None,
    *,
    kind: str = "auto",
    width: int | None = None,
    output: OutputSelector = None,
    eps: float = 0.0,
    device: Any = None,
) -> ModelAdapter:
    """An adapter for a tabular detector.

    ``kind="auto"``: an ``nn.Module`` whose output on one row is ``[1, D]`` (or that is given
    ``output=``) is an autoencoder; one that returns ``[1]`` (or any plain function) is a score
    model; anything else is an error saying what was expected and what came back.
    """
    if kind not in ADAPTER_KINDS:
        raise ValueError(f"adapter: expected one of {ADAPTER_KINDS} or a ModelAdapter; got {kind!r}")
    if not callable(model):
        raise TypeError(f"model: expected an nn.Module or a function x -> scores; got {type(model).__name__}")
    got: Any = None
    if kind == "auto":
        if output is not None:
            kind = "autoencoder"
        elif not isinstance(model, nn.Module):
            kind = "score"
        else:
            d = infer_width(model, width)
            dev = model_device(model, device)
            got = _probe(model, d, dev, "model", module_dtype(model))
            if isinstance(got, Tensor) and tuple(got.shape) == (1,):
                kind = "score"
            elif isinstance(got, Tensor) and tuple(got.shape) == (1, d):
                kind = "autoencoder"
            else:
                raise ValueError(
                    f"model: expected [1, {d}] (an autoencoder reconstructing its input) or [1] "
                    f"(one score per row) for one row [1, {d}]; got {_shape(got)}"
                    + ("; pass output=INDEX to pick the reconstruction" if isinstance(got, (tuple, list)) else "")
                )
    if kind == "score":
        if output is not None:
            raise ValueError("output: only applies to autoencoders; a score model returns its score")
        return score_adapter(model, threshold, width=width, eps=eps, device=device, probed=got)
    return AutoencoderAdapter(model, threshold, width=width, output=output, eps=eps, device=device, probed=got)
