"""Does a detector's score have a gradient with respect to its input? Probed once on a small batch.

Presets use ``choose_search`` to pick ``gradient`` where it does and ``blackbox`` otherwise;
``GradientSearch`` calls ``require_input_gradient`` first, so forcing it on a score without a
gradient fails with an error naming the model and suggesting ``search="blackbox"``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from deepaid_sdk.adapters import ModelAdapter

#: Rows of the probe batch at most.
PROBE_ROWS = 4


def model_name(adapter: ModelAdapter) -> str:
    for attribute in ("model", "detector"):
        model = getattr(adapter, attribute, None)
        if model is not None:
            return type(model).__name__
    return type(adapter).__name__


def gradient_problem(adapter: ModelAdapter, x: Tensor) -> str | None:
    """Why ``adapter.score`` has no usable input gradient on the first rows of ``x``, or None if it has one."""
    if getattr(adapter, "differentiable", True) is False:
        return f"{type(adapter).__name__} scores outside torch"
    probe = x[:PROBE_ROWS].detach().to(adapter.input_dtype).clone()
    if not probe.is_floating_point():
        return f"its input is {probe.dtype}, not floating point"
    probe.requires_grad_(True)
    with torch.enable_grad():
        try:
            score = adapter.score(probe)
        except RuntimeError as exc:
            return f"scoring with gradients failed ({exc})"
        if not isinstance(score, Tensor) or not score.requires_grad:
            return "its score is not connected to the input in torch's autograd graph"
        (grad,) = torch.autograd.grad(score.sum(), probe, allow_unused=True)
    if grad is None:
        return "its score does not depend on the input in torch's autograd graph"
    if not bool(torch.isfinite(grad).all()):
        return "its input gradient is not finite"
    if not bool((grad != 0).any()):
        return "its input gradient is zero everywhere on the probe rows"
    return None


def has_input_gradient(adapter: ModelAdapter, x: Tensor) -> bool:
    """Whether a gradient search can move ``x``: the score's input gradient exists, finite, nonzero."""
    return gradient_problem(adapter, x) is None


def require_input_gradient(adapter: ModelAdapter, x: Tensor, search: str = "gradient") -> None:
    """Raise ``ValueError`` naming the model and suggesting ``search="blackbox"`` when there is no gradient."""
    if x.shape[0] == 0:
        return
    problem = gradient_problem(adapter, x)
    if problem is not None:
        raise ValueError(f"search={search!r}: the score of {model_name(adapter)} has no gradient with respect "
                         f"to its input ({problem}); use search='blackbox' (gradient-free, needs normal rows "
                         f"or a reconstruction)")


def probe_batch(adapter: ModelAdapter, normal: Any = None) -> Tensor:
    """A few rows to probe with: the first normal rows where given, else seeded standard normal rows.

    Not zeros: a kink there (``abs``, ``relu``) would show a zero gradient for a model that has one.
    """
    if normal is not None:
        return adapter.prepare(normal, "normal")[:PROBE_ROWS]
    if adapter.sample_shape is None:
        raise ValueError("normal: cannot probe the model without normal rows or a known sample shape")
    gen = torch.Generator().manual_seed(0)
    rows = torch.randn(PROBE_ROWS, *adapter.sample_shape, generator=gen)
    return rows.to(device=adapter.device, dtype=adapter.input_dtype)


def choose_search(adapter: ModelAdapter, normal: Any = None) -> str:
    """``gradient`` when the adapter's score has an input gradient on a probe batch, else ``blackbox``.

    With nothing to probe (no normal rows, no known sample shape) it is ``gradient``: that search
    checks the gradient on the first batch and suggests ``blackbox`` where there is none.
    """
    if normal is None and adapter.sample_shape is None:
        return "gradient"
    return "gradient" if has_input_gradient(adapter, probe_batch(adapter, normal)) else "blackbox"
