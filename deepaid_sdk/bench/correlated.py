"""Correlated-manifold data with planted causes, and the ReLU autoencoder that detects them.

Normal rows are a few latent factors pushed through a random tanh mixing plus small noise,
min-max scaled to [0, 1] on the normal rows, so features are strongly correlated and bounded.
An alert is a fresh normal row with ``planted`` random features shifted by a random amount
(towards the side of [0, 1] with more room). Alerts may be filtered by how far above the
threshold they score, so a case can hold *hard* alerts (just above it) as well as large shifts.
This is the held-out design on which the default search was found to name too few causes.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from deepaid_sdk.progress import progress
from deepaid_sdk.records import array_field


@attrs.frozen
class CorrelatedData:
    """Normal rows, alert candidates and their planted features, all in [0, 1] model units."""

    normal: np.ndarray = array_field()
    """``[N, D]`` float32 normal rows (training data of the detector)."""
    candidates: np.ndarray = array_field()
    """``[M, D]`` float32 shifted rows; the detector flags some of them."""
    truth: np.ndarray = array_field()
    """``[M, D]`` bool: the planted features of each candidate."""
    config: dict[str, Any] = attrs.field(factory=dict)


def correlated_manifold(
    width: int = 60,
    latent: int = 6,
    planted: int = 4,
    *,
    n_normal: int = 10_000,
    n_candidates: int = 1_000,
    shift: tuple[float, float] = (0.35, 0.6),
    noise: float = 0.02,
    seed: int = 0,
) -> CorrelatedData:
    """``width`` features from ``latent`` factors through ``tanh(z W + b)`` plus ``noise``, min-max scaled."""
    if not 1 <= planted <= width:
        raise ValueError(f"planted: expected 1..{width} features; got {planted}")
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((latent, width)) * 1.2 / np.sqrt(latent)
    bias = 0.3 * rng.standard_normal(width)

    def rows(n: int) -> np.ndarray:
        z = rng.standard_normal((n, latent))
        return np.tanh(z @ mixing + bias) + noise * rng.standard_normal((n, width))

    normal, base = rows(n_normal), rows(n_candidates)
    low, high = normal.min(axis=0), normal.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    normal, base = (normal - low) / span, (base - low) / span
    order = np.argsort(rng.random((n_candidates, width)), axis=1)[:, :planted]
    truth = np.zeros((n_candidates, width), dtype=bool)
    np.put_along_axis(truth, order, True, axis=1)
    direction = np.where(base < 0.5, 1.0, -1.0)
    candidates = base + truth * direction * rng.uniform(*shift, size=base.shape)
    config = {
        "width": width,
        "latent": latent,
        "planted": planted,
        "n_normal": n_normal,
        "shift": list(shift),
        "noise": noise,
        "seed": seed,
    }
    return CorrelatedData(normal.astype(np.float32), candidates.astype(np.float32), truth, config)


def as_counts(data: CorrelatedData, top: int) -> CorrelatedData:
    """The same rows as whole counts ``0 .. top``: ``round(top * x)``, clipped; truth and config kept.

    Alerts whose planted shifts round away to nothing keep their truth (they are dropped later by
    the detector, which no longer flags them)."""
    if top < 1:
        raise ValueError(f"top: expected a positive largest count; got {top}")

    def counts(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(top * x), 0, top).astype(np.float32)

    config = {**data.config, "counts": top}
    return CorrelatedData(counts(data.normal), counts(data.candidates), data.truth, config)


def relu_autoencoder(width: int, hidden: int = 32, bottleneck: int = 8) -> nn.Module:
    """MLP autoencoder ``width-hidden-bottleneck-hidden-width`` with ReLU."""
    return nn.Sequential(
        nn.Linear(width, hidden),
        nn.ReLU(),
        nn.Linear(hidden, bottleneck),
        nn.ReLU(),
        nn.Linear(bottleneck, hidden),
        nn.ReLU(),
        nn.Linear(hidden, width),
    )


def train_relu_autoencoder(
    normal: np.ndarray,
    *,
    epochs: int = 40,
    seed: int = 0,
    hidden: int = 32,
    bottleneck: int = 8,
    lr: float = 3e-3,
    batch_size: int = 128,
    quiet: bool = False,
) -> nn.Module:
    """Seeded MSE training of ``relu_autoencoder`` on normal rows, with a progress bar."""
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(normal, dtype=np.float32))
    model = relu_autoencoder(x.shape[1], hidden, bottleneck)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    for _ in progress(range(epochs), desc=f"training AE {x.shape[1]}-{hidden}-{bottleneck}", unit="epoch", quiet=quiet):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            opt.zero_grad()
            nn.functional.mse_loss(model(x[idx]), x[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()
