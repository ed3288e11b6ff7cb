"""The detector: an LSTM that predicts the next vector of a multivariate series from the last W."""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_plugin_multits.windows import training_pairs


class LSTMPredictor(nn.Module):
    """``[B, W, D] -> [B, D]``: an LSTM over the window, then a linear map of its last state."""

    def __init__(self, features: int, hidden: int = 32, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = check_positive_int(features, "features")
        self.hidden = check_positive_int(hidden, "hidden")
        self.layers = check_positive_int(layers, "layers")
        self.lstm = nn.LSTM(self.features, self.hidden, num_layers=self.layers, batch_first=True,
                            dropout=float(dropout) if self.layers > 1 else 0.0)
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
        return {"features": self.features, "hidden": self.hidden, "layers": self.layers,
                "dropout": float(self.lstm.dropout)}


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
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            idx = idx.to(device)
            pred = model(x[idx])
            if pred.shape != y[idx].shape:
                raise ValueError(f"model: expected a prediction [B, D] = {list(y[idx].shape)}; got {list(pred.shape)}")
            opt.zero_grad()
            nn.functional.mse_loss(pred, y[idx]).backward()
            opt.step()
    return model.eval()


#: Where trained synthetic detectors are cached, relative to the current directory.
CACHE_DIR = pathlib.Path(".deepaid-cache")


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
    options = {"window": int(window), "hidden": int(hidden), "epochs": int(epochs), "lr": float(lr),
               "seed": int(seed), "torch": torch.__version__, "shape": list(arr.shape)}
    digest = hashlib.sha256(arr.tobytes() + json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    path = pathlib.Path(cache_dir if cache_dir is not None else CACHE_DIR) / f"multits-lstm-{digest}.pt"
    if path.exists():
        model = LSTMPredictor(arr.shape[1], hidden=hidden)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.to(device).eval()
    model = train_predictor(arr, window, hidden=hidden, epochs=epochs, lr=lr, seed=seed, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(path)
    return model
