"""The detector: an LSTM that predicts the next vector of a multivariate series from the last W."""

from __future__ import annotations

import pathlib
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from deepaid_plugin_multits.windows import training_pairs
from deepaid_sdk.cache import cache_key, cache_path, cached, load_state, save_state
from deepaid_sdk.checks import check_finite_number, check_output, check_positive_int
from deepaid_sdk.training import train_minibatches


class LSTMPredictor(nn.Module):
    """``[B, W, D] -> [B, D]``: an LSTM over the window, then a linear map of its last state."""

    def __init__(self, features: int, hidden: int = 32, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = check_positive_int(features, "features")
        self.hidden = check_positive_int(hidden, "hidden")
        self.layers = check_positive_int(layers, "layers")
        self.lstm = nn.LSTM(
            self.features,
            self.hidden,
            num_layers=self.layers,
            batch_first=True,
            dropout=float(dropout) if self.layers > 1 else 0.0,
        )
        self.head = nn.Linear(self.hidden, self.features)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])

    def predict_steps(self, x: Tensor) -> Tensor:
        """``[B, W, D] -> [B, W, D]``: row t is the prediction from ``x[:, :t + 1]`` (one LSTM pass).

        Row t equals ``forward(x[:, :t + 1])``; the all-steps adapter scores every step with it.
        """
        out, _ = self.lstm(x)
        return self.head(out)

    def config(self) -> dict[str, Any]:
        """Constructor arguments, saved beside the state dict so the model can be rebuilt without pickle."""
        return {
            "features": self.features,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": float(self.lstm.dropout),
        }


def train_predictor(
    series: Any | Sequence[Any],
    window: int,
    *,
    model: nn.Module | None = None,
    hidden: int = 32,
    epochs: int = 20,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    device: Any = "cpu",
) -> nn.Module:
    """Fit a next-vector predictor (ours by default, or ``model``) on the windows of normal series.

    Minimises the mean squared error between the prediction and the actual next vector with
    Adam; seeded; returns the model in eval mode.
    """
    inputs, targets = training_pairs(series, window)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = check_finite_number(lr, "lr")
    torch.manual_seed(seed)
    if model is None:
        model = LSTMPredictor(inputs.shape[2], hidden=hidden)
    elif not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module mapping [B, W, D] to [B, D]; got {type(model).__name__}")
    model = model.to(device).train()
    x, y = inputs.to(device), targets.to(device)

    def batch_loss(idx: Tensor) -> Tensor:
        pred = check_output(model(x[idx]), y[idx].shape, "model", "a prediction [B, D]")
        return nn.functional.mse_loss(pred, y[idx])

    train_minibatches(
        model.parameters(),
        batch_loss,
        len(x),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=torch.Generator(device="cpu").manual_seed(seed),
        device=device,
        desc="training the LSTM predictor",
    )
    return model.eval()


def cached_predictor(
    series: np.ndarray,
    window: int,
    *,
    hidden: int = 32,
    epochs: int = 20,
    lr: float = 3e-3,
    seed: int = 0,
    device: Any = "cpu",
    cache_dir: pathlib.Path | str | None = None,
) -> nn.Module:
    """``train_predictor`` on a normal series, its state dict cached under ``.deepaid-cache/``.

    The cache key covers the series' bytes, the training options and the torch version; the
    state dict is loaded with ``torch.load(weights_only=True)`` (no pickle).
    """
    arr = np.ascontiguousarray(np.asarray(series, dtype=np.float32))
    options = {"window": int(window), "hidden": int(hidden), "epochs": int(epochs), "lr": float(lr), "seed": int(seed)}
    path = cache_path("multits-lstm", cache_key(arr, options=options), cache_dir)
    model, _ = cached(
        path,
        lambda: train_predictor(arr, window, hidden=hidden, epochs=epochs, lr=lr, seed=seed, device=device),
        save_state,
        lambda p: load_state(LSTMPredictor(arr.shape[1], hidden=hidden), p, device),
    )
    return model
