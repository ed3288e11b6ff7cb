"""Stability and robustness of the changed sets, ours beside the residual, as columns for the benches.

**Stability under noise**: the Jaccard of the changed set of an alert and that of the same alert
plus seeded Gaussian noise of a fixed std *in the data's units* (0.01 and 0.001 by default; no
per-feature rescaling). Only rows that are still alerts once noised are compared: a row the noise
makes normal has nothing to explain, and every method is measured on the same rows.

**Robustness under attack**: the Jaccard of the changed set of an alert and that of the alert
moved by a gradient attack within +-``size`` (``residual_attack``: it raises the detector's
residual on the features the clean explanation leaves out and lowers it on those it names, and
keeps every row an alert), beside random +-``size`` signs on every feature.

Every explainer here is ``explain(rows) -> InterpretationBatch``; the benches build one per K.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from deepaid_sdk.constraints import Constraint, project_all
from deepaid_sdk.evaluation import jaccard
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.progress import progress
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.results.views import format_table

Explain = Callable[[np.ndarray], InterpretationBatch]
#: Noise stds of the stability columns, in the data's units.
NOISE_STDS = (0.01, 0.001)
#: Columns of ``stability_rows``.
STABILITY_COLUMNS = ("K", "method", "noise std", "rows", "stability", "changed")
#: Columns of ``robustness_rows``.
ROBUSTNESS_COLUMNS = ("K", "method", "size", "rows", "under attack", "under noise")


def is_alert(adapter: ModelAdapter, x: np.ndarray) -> np.ndarray:
    """``[B]`` bool: the detector raises an alert on each row."""
    with torch.no_grad():
        return (~adapter.is_normal(adapter.prepare(x, "x"))).cpu().numpy().reshape(-1)


def noised(
    adapter: ModelAdapter, x: np.ndarray, std: float, seed: int, valid: Sequence[Constraint] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """``(x + N(0, std^2), still)``: the seeded noisy copy, projected into the ``valid`` domain (e.g. a
    box: an input outside it is not one the detector can see), and which rows are still alerts."""
    if not np.isfinite(std) or std <= 0:
        raise ValueError(f"std: expected a positive noise std in the data's units; got {std}")
    rng = np.random.default_rng(seed)
    noisy = (x + std * rng.standard_normal(x.shape)).astype(x.dtype)
    noisy = _project(valid, adapter.prepare(noisy, "x")).cpu().numpy().astype(x.dtype)
    return noisy, is_alert(adapter, noisy)


def _project(valid: Sequence[Constraint], t: torch.Tensor) -> torch.Tensor:
    """``t`` projected into the valid domain (``t`` itself without constraints)."""
    if not valid:
        return t
    with torch.no_grad():
        return project_all(list(valid), t, t)


def _mask(batch: InterpretationBatch) -> np.ndarray:
    """``[B, N]`` bool changed mask, flat over the sample's axes."""
    return batch.changed_mask().reshape(len(batch.anomalies), -1)


def _changes(mask: np.ndarray) -> float:
    return float(mask.sum(axis=1).mean()) if len(mask) else 0.0


def _mean_jaccard(a: InterpretationBatch, b: InterpretationBatch) -> float:
    return float(jaccard(_mask(a), _mask(b)).mean())


def stability_rows(
    adapter: ModelAdapter,
    explainers: Callable[[int], Mapping[str, Explain]],
    x: np.ndarray,
    ks: Sequence[int],
    *,
    stds: Sequence[float] = NOISE_STDS,
    seed: int = 0,
    valid: Sequence[Constraint] = (),
    quiet: bool = False,
) -> list[tuple[Any, ...]]:
    """Per K, method and noise std: rows compared, mean Jaccard clean vs noisy, mean changes (clean).

    ``explainers(k)`` gives the methods at budget ``k`` (e.g. ``{"deepaid": ..., "residual": ...}``);
    each explains the same clean rows and the same noisy copies (projected into ``valid``).
    """
    x = np.asarray(x)
    copies = [noised(adapter, x, float(std), seed, valid) for std in stds]
    rows: list[tuple[Any, ...]] = []
    for k in progress(list(ks), desc="stability K", quiet=quiet):
        for method, explain in explainers(int(k)).items():
            clean = _mask(explain(x))
            for std, (noisy, still) in zip(stds, copies):
                if not still.any():
                    rows.append((int(k), method, float(std), 0, None, None))
                    continue
                kept, moved = clean[still], _mask(explain(noisy[still]))
                stable = float(jaccard(kept, moved).mean())
                rows.append((int(k), method, float(std), int(still.sum()), round(stable, 4), round(_changes(kept), 2)))
    return rows


def residual_attack(
    adapter: Any,
    x: torch.Tensor,
    explained: torch.Tensor,
    size: float,
    steps: int = 20,
    valid: Sequence[Constraint] = (),
) -> torch.Tensor:
    """A gradient attack within +-``size`` that keeps every row an alert.

    It raises the detector's residual on the features the clean explanation (``explained``, bool
    shaped like ``x``) leaves out and lowers it on those it names, so a residual-driven explanation
    moves away from the clean one; every step stays in the ``valid`` domain. Needs a differentiable
    ``adapter.reconstruct``.
    """
    weight = torch.where(explained.reshape(x.shape), -1.0, 1.0).to(x.dtype)
    delta = torch.zeros_like(x)
    step = 2.5 * size / steps
    for _ in range(steps):
        probe = (x + delta).requires_grad_(True)
        residual = (adapter.reconstruct(probe) - probe).abs()
        (grad,) = torch.autograd.grad((weight * residual).sum(), probe)
        with torch.no_grad():
            moved = _project(valid, x + (delta + step * grad.sign()).clamp(-size, size)) - x
            still = ~adapter.is_normal(x + moved)
            delta = torch.where(still.reshape(-1, *([1] * (x.dim() - 1))), moved, delta)
    return (x + delta).detach()


def random_perturbation(
    x: torch.Tensor, size: float, seed: int, adapter: ModelAdapter, valid: Sequence[Constraint] = ()
) -> torch.Tensor:
    """``x`` plus +-``size`` on every feature with random signs (kept in the ``valid`` domain); rows it
    would make normal keep x."""
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, x.shape, generator=gen).to(x.dtype) * 2 - 1
    moved = _project(valid, x + size * signs.to(x.device))
    still = ~adapter.is_normal(moved)
    return torch.where(still.reshape(-1, *([1] * (x.dim() - 1))), moved, x)


def robustness_rows(
    adapter: Any,
    explainers: Mapping[str, Explain],
    x: np.ndarray,
    k: int,
    *,
    size: float = 0.03,
    seed: int = 0,
    valid: Sequence[Constraint] = (),
) -> list[tuple[Any, ...]]:
    """Per method: Jaccard clean vs attacked (``residual_attack`` on its own clean explanation) and
    clean vs random +-``size`` signs, both kept in the ``valid`` domain."""
    t = adapter.prepare(np.asarray(x), "x").detach()
    noisy = random_perturbation(t, size, seed, adapter, valid).cpu().numpy()
    rows = []
    for method, explain in explainers.items():
        clean = explain(t.cpu().numpy())
        mask = torch.as_tensor(clean.changed_mask()).to(t.device)
        attacked = residual_attack(adapter, t, mask, size, valid=valid).cpu().numpy()
        rows.append(
            (
                int(k),
                method,
                float(size),
                int(len(t)),
                round(_mean_jaccard(clean, explain(attacked)), 4),
                round(_mean_jaccard(clean, explain(noisy)), 4),
            )
        )
    return rows


def tables(stability: Sequence[tuple[Any, ...]], robustness: Sequence[tuple[Any, ...]], title: str) -> list[str]:
    """The two tables as text lines for a report's notes."""
    out = []
    if stability:
        out.append(format_table(STABILITY_COLUMNS, stability, title=f"{title}: stability under Gaussian noise"))
    if robustness:
        out.append(format_table(ROBUSTNESS_COLUMNS, robustness, title=f"{title}: robustness of the changed set"))
    return out
