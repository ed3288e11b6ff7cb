"""DeepLog in torch: an LSTM over one-hot log keys that predicts the next key, and its training."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepaid_sdk.training import train_minibatches


class DeepLog(nn.Module):
    """LSTM next-key model: one-hot windows ``[B, W, C]`` (float) -> next-key logits ``[B, C]``."""

    def __init__(self, num_keys: int, window: int, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        for name, value in (("num_keys", num_keys), ("window", window), ("hidden", hidden), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected a positive integer; got {value!r}")
        if num_keys < 2:
            raise ValueError(f"num_keys: expected at least 2 keys; got {num_keys}")
        self.num_keys, self.window, self.hidden, self.layers = int(num_keys), int(window), int(hidden), int(layers)
        self.lstm = nn.LSTM(self.num_keys, self.hidden, self.layers, batch_first=True)
        self.out = nn.Linear(self.hidden, self.num_keys)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[1] != self.window or x.shape[2] != self.num_keys:
            got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected one-hot windows [B, {self.window}, {self.num_keys}]; got {got}")
        if not x.is_floating_point():
            raise TypeError(f"x: expected a float one-hot tensor; got dtype {x.dtype} (use F.one_hot(keys).float())")
        h, _ = self.lstm(x)
        return self.out(h[:, -1])

    def config(self) -> dict[str, int]:
        """Constructor arguments, saved next to the state dict so a model can be rebuilt without pickle."""
        return {"num_keys": self.num_keys, "window": self.window, "hidden": self.hidden, "layers": self.layers}


def _check_training_data(windows: np.ndarray, next_keys: np.ndarray, num_keys: int, window: int) -> None:
    if windows.ndim != 2 or windows.shape[1] != window or windows.shape[0] == 0:
        raise ValueError(f"windows: expected a non-empty int array [N, {window}]; got shape {list(windows.shape)}")
    if next_keys.shape != (windows.shape[0],):
        raise ValueError(f"next_keys: expected shape [{windows.shape[0]}]; got {list(next_keys.shape)}")
    for name, arr in (("windows", windows), ("next_keys", next_keys)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name}: expected integer key ids; got dtype {arr.dtype}")
        if arr.min() < 0 or arr.max() >= num_keys:
            raise ValueError(f"{name}: key ids must lie in [0, {num_keys}); got min {arr.min()}, max {arr.max()}")


def train_deeplog(
    windows: Any,
    next_keys: Any,
    num_keys: int,
    *,
    hidden: int = 64,
    layers: int = 2,
    epochs: int = 20,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    device: Any = "cpu",
) -> DeepLog:
    """Train DeepLog on normal windows ``[N, W]`` and their next keys ``[N]`` (cross-entropy).

    Identical (window, next key) rows are merged and weighted by their count: the same objective
    as the full data, at the cost of the distinct rows only (workflow logs repeat a lot).
    """
    windows, next_keys = np.asarray(windows), np.asarray(next_keys)
    window = windows.shape[1] if windows.ndim == 2 else -1
    _check_training_data(windows, next_keys, num_keys, window)
    rows, counts = np.unique(np.concatenate([windows, next_keys[:, None]], axis=1), axis=0, return_counts=True)
    torch.manual_seed(seed)
    model = DeepLog(num_keys, window, hidden, layers).to(device)
    data = torch.as_tensor(rows, dtype=torch.int64, device=device)
    weight = torch.as_tensor(counts, dtype=torch.float32, device=device)
    # A constant normaliser keeps each batch an unbiased estimate of the full-data mean loss.
    per_row = weight.sum() / len(data)
    model.train()

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        batch, w = data[idx], weight[idx]
        logits = model(F.one_hot(batch[:, :window], num_keys).float())
        return (F.cross_entropy(logits, batch[:, window], reduction="none") * w).sum() / (per_row * len(idx))

    train_minibatches(
        model.parameters(),
        batch_loss,
        len(data),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=torch.Generator(device="cpu").manual_seed(seed),
        device=device,
        desc="training DeepLog",
    )
    return model.eval()


def save_deeplog(model: DeepLog, path: Any) -> None:
    """Save config and state dict (tensors and ints only; loadable with ``weights_only=True``)."""
    torch.save({"config": model.config(), "state": model.state_dict()}, path)


def load_deeplog(path: Any, device: Any = "cpu") -> DeepLog:
    """Rebuild a ``DeepLog`` saved by ``save_deeplog`` without unpickling code."""
    blob = torch.load(path, map_location=device, weights_only=True)
    model = DeepLog(**blob["config"]).to(device)
    model.load_state_dict(blob["state"])
    return model.eval()
