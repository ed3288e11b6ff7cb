"""Does a detector's score have a gradient with respect to its input? Probed once on a small batch.

Presets use ``choose_search`` to pick ``gradient`` where it does and ``blackbox`` otherwise;
``GradientSearch`` takes the score's gradient at its alerts with ``input_gradient``, so forcing it
on a score without a gradient fails with an error naming the model and suggesting
``search="blackbox"``; the gradient itself then chooses the residual start's support.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.normal import NormalData

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
        raise ValueError(
            f"search={search!r}: the score of {model_name(adapter)} has no gradient with respect "
            f"to its input ({problem}); use search='blackbox' (gradient-free, needs normal rows "
            f"or a reconstruction)"
        )


def probe_batch(adapter: ModelAdapter, normal: Any = None) -> Tensor:
    """A few rows to probe with: the first normal rows where given, else seeded standard normal rows.

    Not zeros: a kink there (``abs``, ``relu``) would show a zero gradient for a model that has one.
    """
    if isinstance(normal, NormalData):
        return normal.rows[:PROBE_ROWS]
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


def input_gradient(adapter: ModelAdapter, x: Tensor, search: str = "gradient", chunk: int = 4096) -> Tensor:
    """The score's gradient at every row of ``x`` (``score_and_gradient`` without the scores)."""
    return score_and_gradient(adapter, x, search, chunk)[1]


def score_and_gradient(
    adapter: ModelAdapter, x: Tensor, search: str = "gradient", chunk: int = 4096
) -> tuple[Tensor, Tensor]:
    """The score ``[B]`` and its gradient at every row of ``x`` (in row chunks), checked as a gradient search
    needs it; one forward and one backward pass per chunk, and the search reuses both.

    No autograd graph at all (a score computed under ``no_grad``, through numpy, or detached) is an
    error; so is a gradient that is unusable on the first rows (not finite, or zero on all of them:
    the ``gradient_problem`` checks, read off the same pass). A gradient that is zero for some rows
    (a flat or piecewise-constant score) is a warning: the search cannot move those rows.
    """
    if x.shape[0] == 0:
        return x.new_zeros(0), torch.zeros_like(x)
    if getattr(adapter, "differentiable", True) is False or not x.is_floating_point():
        require_input_gradient(adapter, x, search)  # names the problem
    scores, grads = [], []
    for part in x.split(chunk):
        probe = part.detach().clone().requires_grad_(True)
        try:
            with torch.enable_grad():
                score = adapter.score(probe)
        except RuntimeError:
            require_input_gradient(adapter, part, search)  # says why scoring with gradients failed
            raise
        if not score.requires_grad:
            raise ValueError(
                f"model: the score of {model_name(adapter)} has no gradient with respect to the input "
                "(it is computed without autograd: under torch.no_grad, through numpy, or detached), "
                "so the gradient search cannot move; make the score differentiable in torch, or use "
                "search='blackbox' (gradient-free, needs normal rows or a reconstruction)"
            )
        (grad,) = torch.autograd.grad(score.sum(), probe, allow_unused=True)
        scores.append(score.detach())
        grads.append(torch.zeros_like(probe) if grad is None else grad)
    gradient = torch.cat(grads)
    first = gradient[:PROBE_ROWS]
    if not bool(torch.isfinite(first).all()) or not bool((first != 0).any()):
        require_input_gradient(adapter, x, search)  # unusable on the first rows: says why, on them
    flat = (gradient.reshape(x.shape[0], -1) == 0).all(dim=1)
    if bool(flat.any()):
        rows = flat.nonzero().flatten().tolist()
        warnings.warn(
            f"model: the score's gradient is zero at {len(rows)} of {x.shape[0]} alert rows (first: "
            f"{rows[:10]}); the gradient search cannot move them and they will stay anomalous "
            "(a flat or piecewise-constant score)",
            RuntimeWarning,
            stacklevel=4,
        )
    return torch.cat(scores), gradient
