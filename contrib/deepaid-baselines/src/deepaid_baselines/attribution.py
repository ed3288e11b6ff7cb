"""Captum attribution methods behind one call: ``attribute(method, forward, inputs, baselines)``.

``forward`` maps a batch ``[B, ...]`` to one score per row ``[B]`` (an anomaly score, a
probability); the result is an attribution per input element, same shape as ``inputs``. Inputs
of any shape work (feature vectors, windows, one-hot windows ``[B, W, V]``).

Gradient methods (``integrated_gradients``, ``deeplift``, ``saliency``, ``input_x_gradient``)
run on whole chunks of rows. Captum's ``kernel_shap`` and ``lime`` fit one surrogate model per
example (captum loops over a batch itself); we call them example by example with the same seed,
so a row's attribution does not depend on the batch it is in. Their surrogate is a weighted
least-squares fit in torch (ridge for LIME), so scikit-learn is not needed.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Callable, Iterator, cast

import torch
from torch import Tensor, nn

from deepaid_sdk.checks import check_output
from deepaid_sdk.model.rnn import rnn_gradients

#: Method names accepted by ``attribute``.
ATTRIBUTION_METHODS: tuple[str, ...] = (
    "integrated_gradients",
    "deeplift",
    "saliency",
    "input_x_gradient",
    "kernel_shap",
    "lime",
)
#: Methods that compare the input with a baseline input (the value a feature takes when "absent").
USES_BASELINES: frozenset[str] = frozenset({"integrated_gradients", "deeplift", "kernel_shap", "lime"})
#: Methods that sample perturbations (seeded) and fit a surrogate per example.
SAMPLING_METHODS: frozenset[str] = frozenset({"kernel_shap", "lime"})

#: Ridge strength of each sampling method's surrogate (KernelSHAP: plain least squares).
_RIDGE = {"kernel_shap": 0.0, "lime": 0.01}


def _captum_attr() -> Any:
    try:
        import captum.attr as captum_attr
    except ImportError as exc:  # pragma: no cover - captum is a dependency of deepaid-baselines
        raise ImportError(
            "deepaid_baselines.attribution needs captum: install it with `pip install deepaid-baselines` "
            "(which depends on captum) or `pip install captum`"
        ) from exc
    return captum_attr


class _Forward(nn.Module):
    """A forward function as an ``nn.Module`` (captum's DeepLift needs one).

    ``module`` (the detector's network) is registered as a child so DeepLift finds and hooks
    its non-linear layers; without it DeepLift sees no layers and reduces to gradient x delta.
    """

    def __init__(self, forward: Callable[[Tensor], Tensor], module: nn.Module | None) -> None:
        super().__init__()
        self._fn = forward
        self.inner = module

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x)


def _checked(forward: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``forward`` with its output checked to be one value per row."""

    def run(x: Tensor) -> Tensor:
        return check_output(forward(x), (x.shape[0],), "forward", "one score per row")

    return run


class RidgeSurrogate:
    """The interpretable model of KernelSHAP / LIME: weighted ridge least squares in closed form.

    Captum's surrogates need scikit-learn or train by SGD; this one is exact and ours, so no private
    captum name is used. Captum calls ``fit(dataloader)`` (batches of ``(x, y[, weight])``) and reads
    the coefficients with ``representation()``.
    """

    def __init__(self, alpha: float = 0.0) -> None:
        self.alpha = float(alpha)
        self.coef: Tensor | None = None
        self.bias: Tensor | None = None

    def fit(self, train_data: Any, **_: Any) -> dict[str, float]:
        started = time.perf_counter()
        xs, ys, ws = [], [], []
        for batch in train_data:
            x, y = batch[0], batch[1]
            xs.append(x.double())
            ys.append(y.double().reshape(-1))
            ws.append(batch[2].double().reshape(-1) if len(batch) == 3 else torch.ones_like(ys[-1]))
        x, y, w = torch.cat(xs), torch.cat(ys), torch.cat(ws)
        share = w / w.sum()
        x_mean, y_mean = share @ x, share @ y
        xc, yc = x - x_mean, y - y_mean
        gram = xc.T @ (w[:, None] * xc)
        # A tiny ridge keeps the solve defined when a feature never varies among the samples.
        ridge = self.alpha + 1e-9 * float(gram.diagonal().mean().clamp_min(1e-12))
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        coef = torch.linalg.solve(gram + ridge * eye, xc.T @ (w * yc))
        self.coef, self.bias = coef.float(), (y_mean - x_mean @ coef).reshape(1).float()
        return {"train_time": time.perf_counter() - started}

    def representation(self) -> Tensor:
        """``[1, F]``: one coefficient per interpretable feature."""
        if self.coef is None:
            raise ValueError("RidgeSurrogate: fit() has not been called")
        return self.coef[None]

    def __call__(self, x: Tensor) -> Tensor:
        return x.float() @ self.representation().T + cast(Tensor, self.bias)  # set with coef by fit()


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's generator (CPU, and the input's CUDA device) for the block, then restore it."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence captum's notices about what it does on purpose (hooking activations, requiring grads)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        yield


def _check(method: Any, inputs: Any, baselines: Any) -> Tensor | None:
    if not isinstance(method, str) or method not in ATTRIBUTION_METHODS:
        raise ValueError(f"method: expected one of {ATTRIBUTION_METHODS}; got {method!r}")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs: expected a torch Tensor [B, ...]; got {type(inputs).__name__}")
    if inputs.ndim < 2 or inputs.shape[0] == 0 or not inputs.is_floating_point():
        raise ValueError(
            f"inputs: expected a non-empty floating batch [B, ...]; got {inputs.dtype} {list(inputs.shape)}"
        )
    if baselines is None:
        return None
    if not isinstance(baselines, Tensor):
        raise TypeError(f"baselines: expected a torch Tensor or None; got {type(baselines).__name__}")
    if baselines.shape == inputs.shape[1:]:
        baselines = baselines[None]
    try:
        return torch.broadcast_to(baselines.to(inputs.device, inputs.dtype), inputs.shape)
    except RuntimeError:
        raise ValueError(
            f"baselines: shape {list(baselines.shape)} does not broadcast to the inputs' {list(inputs.shape)}"
        ) from None


def attribute(
    method: str,
    forward: Callable[[Tensor], Tensor],
    inputs: Tensor,
    baselines: Tensor | None = None,
    *,
    module: nn.Module | None = None,
    seed: int = 0,
    chunk: int = 1024,
    **options: Any,
) -> Tensor:
    """Attribution of ``forward``'s score to each element of ``inputs`` (same shape, detached).

    :param method: one of ``ATTRIBUTION_METHODS``.
    :param forward: ``[B, ...] -> [B]`` scores; may be an ``nn.Module``.
    :param inputs: the batch to explain, any sample shape.
    :param baselines: the "absent" input for integrated gradients, DeepLift, KernelSHAP and LIME:
        one sample (broadcast) or one per row; zeros when None. Ignored by the other methods.
    :param module: the network ``forward`` runs, so DeepLift can hook its non-linear layers
        (not needed when ``forward`` is itself that module).
    :param seed: seed of the perturbations of ``kernel_shap`` and ``lime`` (the same for every row).
    :param chunk: rows per captum call for the gradient methods.
    :param options: passed to captum's ``attribute`` (``n_steps`` for integrated gradients,
        ``n_samples`` for KernelSHAP / LIME, default 200).
    """
    base = _check(method, inputs, baselines)
    if not isinstance(forward, nn.Module) and not callable(forward):
        raise TypeError(f"forward: expected a callable or nn.Module; got {type(forward).__name__}")
    if module is not None and not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an nn.Module or None; got {type(module).__name__}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive integer; got {chunk!r}")
    captum_attr = _captum_attr()
    x = inputs.detach()
    if method in USES_BASELINES and base is None:
        base = torch.zeros_like(x)
    fn = _checked(forward)
    # cuDNN's RNN backward runs only in training mode: switch the RNN modules only (thread-safe).
    network = module if module is not None else forward if isinstance(forward, nn.Module) else None
    with torch.enable_grad(), rnn_gradients(network, x.device):
        if method in SAMPLING_METHODS:
            return _sampled(captum_attr, method, fn, x, cast(Tensor, base), seed, options)  # they use baselines
        if method == "deeplift":
            model = forward if isinstance(forward, nn.Module) else _Forward(fn, module)
            explainer = captum_attr.DeepLift(model)
        else:
            cls = {
                "integrated_gradients": captum_attr.IntegratedGradients,
                "saliency": captum_attr.Saliency,
                "input_x_gradient": captum_attr.InputXGradient,
            }[method]
            explainer = cls(fn)
        parts = []
        with _quiet():
            for start in range(0, x.shape[0], chunk):
                part = x[start : start + chunk]
                kwargs = dict(options)
                if method in USES_BASELINES:
                    kwargs["baselines"] = cast(Tensor, base)[start : start + chunk]
                if method == "saliency":
                    kwargs.setdefault("abs", False)
                parts.append(explainer.attribute(part, **kwargs).detach())
    return torch.cat(parts)


def _sampled(
    captum_attr: Any,
    method: str,
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    base: Tensor,
    seed: int,
    options: dict[str, Any],
) -> Tensor:
    """KernelSHAP / LIME, one example per captum call, each with the same seeded perturbations."""
    n_samples = int(options.pop("n_samples", 200))
    if n_samples < 2:
        raise ValueError(f"n_samples: expected at least 2 perturbations; got {n_samples}")
    surrogate = RidgeSurrogate(alpha=_RIDGE[method])
    if method == "lime":
        explainer = captum_attr.Lime(fn, interpretable_model=surrogate)
    else:
        explainer = captum_attr.KernelShap(fn)
        explainer.interpretable_model = surrogate  # captum's default needs scikit-learn
    # One interpretable feature per input element.
    mask = torch.arange(x[0].numel(), device=x.device).reshape(1, *x.shape[1:])
    options.setdefault("perturbations_per_eval", n_samples)
    out = torch.empty_like(x)
    for i in range(x.shape[0]):  # captum fits one surrogate per example; it loops the same way
        with _seeded(seed, x.device), torch.no_grad():
            out[i] = explainer.attribute(
                x[i : i + 1],
                baselines=base[i : i + 1],
                feature_mask=mask,
                n_samples=n_samples,
                show_progress=False,
                **options,
            )[0].detach()
    return out
