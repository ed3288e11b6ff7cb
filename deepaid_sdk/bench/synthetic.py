"""Synthetic detectors for benchmarks and tests: manifold data and a small MLP autoencoder.

Shared by the core benchmark, the tabular plugin and the baselines' tests, so every place that
says "a small MLP autoencoder trained on normal rows" trains the same model the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from deepaid_sdk.training import train_minibatches


def manifold_data(n_normal: int, n_anomalies: int, width: int, latent: int, shifted: int, seed: int):
    """Normal rows on a random linear manifold plus noise; anomalies shift ``shifted`` features by 3-5 std."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((latent, width)) / np.sqrt(latent)
    normal = rng.standard_normal((n_normal, latent)) @ mixing + 0.05 * rng.standard_normal((n_normal, width))
    base = rng.standard_normal((n_anomalies, latent)) @ mixing + 0.05 * rng.standard_normal((n_anomalies, width))
    truth = np.zeros((n_anomalies, width), dtype=bool)
    for i in range(n_anomalies):
        truth[i, rng.choice(width, shifted, replace=False)] = True
    shift = rng.uniform(3.0, 5.0, size=base.shape) * rng.choice([-1.0, 1.0], size=base.shape)
    anomalies = base + truth * shift * normal.std(axis=0)
    return normal.astype(np.float32), anomalies.astype(np.float32), truth


def mlp_autoencoder(width: int, hidden: int = 64, bottleneck: int = 16) -> nn.Module:
    """A small MLP autoencoder ``[B, width] -> [B, width]`` (tanh between layers)."""
    return nn.Sequential(
        nn.Linear(width, hidden),
        nn.Tanh(),
        nn.Linear(hidden, bottleneck),
        nn.Tanh(),
        nn.Linear(bottleneck, hidden),
        nn.Tanh(),
        nn.Linear(hidden, width),
    )


def train_autoencoder(
    normal: np.ndarray,
    *,
    epochs: int,
    seed: int,
    hidden: int = 64,
    bottleneck: int = 16,
    batch_size: int = 128,
    lr: float = 3e-3,
    denoise: float = 0.0,
    cosine: bool = False,
    device: Any = "cpu",
) -> nn.Module:
    """Train an MLP autoencoder on normal rows with MSE, seeded.

    ``denoise`` adds Gaussian input noise of that std (a denoising AE); ``cosine`` anneals the
    learning rate over the epochs.
    """
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(normal, dtype=np.float32), device=device)
    model = mlp_autoencoder(x.shape[1], hidden, bottleneck).to(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        batch = x[idx]
        noisy = batch + denoise * torch.randn(batch.shape, generator=gen).to(device) if denoise > 0 else batch
        return nn.functional.mse_loss(model(noisy), batch)

    train_minibatches(
        model.parameters(),
        batch_loss,
        len(x),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=gen,
        device=device,
        cosine=cosine,
        desc="training the autoencoder",
    )
    return model.eval()
