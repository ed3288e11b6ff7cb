"""KitNET in torch: an ensemble of small autoencoders over feature groups, and an output autoencoder.

Every group's autoencoder reconstructs its min-max normalised features through a sigmoid
layer of ``ceil(0.75 * size)`` units (tied weights, as in KitNET); their RMSEs, normalised
again, are the input of the output autoencoder whose RMSE is the anomaly score. Groups are
padded to one width so the whole ensemble is one gather and two batched matmuls; padded
inputs and hidden units are masked out. Everything is differentiable, so gradient searches
reach the raw features through the score.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.training import train_minibatches

#: Floor of a normalisation span: a constant training feature is measured in its own units.
_MIN_SPAN = 1e-12


def _span(low: Tensor, high: Tensor) -> Tensor:
    span = high - low
    return torch.where(span > _MIN_SPAN, span, torch.ones_like(span))


class KitNET(nn.Module):
    """Score ``[B]`` of raw feature rows ``[B, D]``: RMSE of the output autoencoder.

    Build it with ``fit_kitnet`` (or ``KitNET(groups, width)`` then train); restore a saved
    one with ``KitNET.from_state_dict``.
    """

    # Buffers (registered in ``__init__``): declared so a type checker reads them as tensors, not modules.
    index: Tensor
    in_mask: Tensor
    hidden_mask: Tensor
    x_min: Tensor
    x_max: Tensor
    r_min: Tensor
    r_max: Tensor
    threshold: Tensor

    def __init__(self, groups: Sequence[Sequence[int]], width: int, hidden_ratio: float = 0.75, seed: int = 0) -> None:
        super().__init__()
        width = check_positive_int(width, "width")
        groups = [[int(i) for i in g] for g in groups]
        flat = sorted(i for g in groups for i in g)
        if not groups or any(not g for g in groups) or flat != list(range(width)):
            raise ValueError(f"groups: expected non-empty groups covering features 0..{width - 1} exactly once")
        if not 0.0 < float(hidden_ratio) <= 1.0:
            raise ValueError(f"hidden_ratio: expected a value in (0, 1]; got {hidden_ratio}")
        self.hidden_ratio = float(hidden_ratio)
        g, m = len(groups), max(len(grp) for grp in groups)
        sizes = torch.tensor([len(grp) for grp in groups])
        hidden = torch.tensor([math.ceil(self.hidden_ratio * len(grp)) for grp in groups])
        h = int(hidden.max())
        index = torch.zeros(g, m, dtype=torch.int64)
        for row, grp in enumerate(groups):
            index[row, : len(grp)] = torch.tensor(grp)
        self.register_buffer("index", index)
        self.register_buffer("in_mask", (torch.arange(m)[None, :] < sizes[:, None]).float())
        self.register_buffer("hidden_mask", (torch.arange(h)[None, :] < hidden[:, None]).float())
        self.register_buffer("x_min", torch.zeros(width))
        self.register_buffer("x_max", torch.ones(width))
        self.register_buffer("r_min", torch.zeros(g))
        self.register_buffer("r_max", torch.ones(g))
        self.register_buffer("threshold", torch.tensor(float("nan")))
        ho = math.ceil(self.hidden_ratio * g)
        gen = torch.Generator().manual_seed(int(seed))
        # KitNET's initialisation: uniform in +-1/(inputs of the autoencoder).
        weight = (torch.rand(g, m, h, generator=gen) * 2 - 1) / sizes[:, None, None].float()
        self.weight = nn.Parameter(weight * self.in_mask[:, :, None] * self.hidden_mask[:, None, :])
        self.out_weight = nn.Parameter((torch.rand(g, ho, generator=gen) * 2 - 1) / g)
        self.hidden_bias = nn.Parameter(torch.zeros(g, h))
        self.visible_bias = nn.Parameter(torch.zeros(g, m))
        self.out_hidden_bias = nn.Parameter(torch.zeros(ho))
        self.out_visible_bias = nn.Parameter(torch.zeros(g))

    # -- shapes ------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        return int(self.x_min.shape[0])

    @property
    def groups(self) -> list[list[int]]:
        """Feature indices of each autoencoder of the ensemble."""
        sizes = self.in_mask.sum(dim=1).long().tolist()
        return [self.index[i, :s].tolist() for i, s in enumerate(sizes)]

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor], hidden_ratio: float = 0.75) -> KitNET:
        """Rebuild a saved KitNET (shapes and groups are read from the state dict)."""
        for key in ("index", "in_mask", "x_min"):
            if key not in state:
                raise ValueError(f"state: not a KitNET state dict (missing {key!r})")
        sizes = state["in_mask"].sum(dim=1).long().tolist()
        groups = [state["index"][i, :s].tolist() for i, s in enumerate(sizes)]
        model = cls(groups, int(state["x_min"].shape[0]), hidden_ratio)
        model.load_state_dict(state)
        return model

    def save(self, path: str | pathlib.Path) -> None:
        """Save the state dict (no pickled code): load it with ``KitNET.load``."""
        torch.save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | pathlib.Path, map_location: Any = "cpu") -> KitNET:
        """Load a model saved by ``save`` with ``torch.load(weights_only=True)``."""
        return cls.from_state_dict(torch.load(path, map_location=map_location, weights_only=True))

    # -- the network -------------------------------------------------------------------------
    def normalize(self, x: Tensor) -> Tensor:
        """Min-max normalisation with the training statistics (values outside [0, 1] stay outside)."""
        return (x - self.x_min) / _span(self.x_min, self.x_max)

    def _ensemble(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised group inputs ``[B, G, m]`` and their reconstructions."""
        v = self.normalize(x)[:, self.index] * self.in_mask
        w = self.weight * self.in_mask[:, :, None] * self.hidden_mask[:, None, :]
        hidden = torch.sigmoid(torch.einsum("bgm,gmh->bgh", v, w) + self.hidden_bias) * self.hidden_mask
        recon = torch.sigmoid(torch.einsum("bgh,gmh->bgm", hidden, w) + self.visible_bias)
        return v, recon

    def ensemble_rmse(self, x: Tensor) -> Tensor:
        """``[B, G]`` reconstruction RMSE of every autoencoder of the ensemble."""
        v, recon = self._ensemble(x)
        sq = ((recon - v) * self.in_mask).pow(2).sum(dim=2) / self.in_mask.sum(dim=1)
        return torch.sqrt(sq + 1e-12)

    def _output(self, rmse: Tensor) -> tuple[Tensor, Tensor]:
        v = (rmse - self.r_min) / _span(self.r_min, self.r_max)
        hidden = torch.sigmoid(v @ self.out_weight + self.out_hidden_bias)
        return v, torch.sigmoid(hidden @ self.out_weight.T + self.out_visible_bias)

    def output_loss(self, rmse: Tensor) -> Tensor:
        """Mean squared reconstruction error of the output autoencoder on ensemble RMSEs (training)."""
        v, recon = self._output(rmse)
        return (recon - v).pow(2).mean()

    def forward(self, x: Tensor) -> Tensor:
        """Anomaly score ``[B]`` (RMSE of the output autoencoder)."""
        v, recon = self._output(self.ensemble_rmse(x))
        return torch.sqrt((recon - v).pow(2).mean(dim=1) + 1e-12)

    def reconstruct(self, x: Tensor) -> Tensor:
        """``[B, D]`` the ensemble's reconstruction of every feature, in the original order and units."""
        _, recon = self._ensemble(x)
        span = _span(self.x_min, self.x_max)
        out = torch.zeros_like(x)
        rows = recon[:, self.in_mask.bool()]  # [B, D] in group order
        cols = self.index[self.in_mask.bool()]
        out[:, cols] = rows * span[cols] + self.x_min[cols]
        return out

    def extra_repr(self) -> str:
        return f"width={self.width}, groups={self.index.shape[0]}, max_group={self.index.shape[1]}"


def fit_kitnet(
    normal: Any,
    *,
    max_group: int = 10,
    grace: int | None = 5000,
    linkage: str = "average",
    hidden_ratio: float = 0.75,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-2,
    percentile: float = 99.0,
    seed: int = 0,
    device: Any = "cpu",
) -> KitNET:
    """Train KitNET on normal rows ``[N, D]``: feature map, ensemble, output layer, threshold.

    :param max_group: the ``m`` of KitNET: largest number of features per autoencoder.
    :param grace: rows the feature mapper learns correlations from (None: all).
    :param percentile: threshold = this percentile of the training scores.
    """
    from deepaid_plugin_kitsune.mapper import FeatureMapper

    data = np.asarray(normal, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"normal: expected a matrix [N >= 2, D]; got shape {list(data.shape)}")
    if not np.isfinite(data).all():
        raise ValueError("normal: contains NaN or inf")
    if not 0.0 < float(percentile) <= 100.0:
        raise ValueError(f"percentile: expected a value in (0, 100]; got {percentile}")
    groups = FeatureMapper(max_group, grace=grace, linkage=linkage).fit(data)
    gen = torch.Generator().manual_seed(seed)
    model = KitNET(groups, data.shape[1], hidden_ratio, seed=seed).to(device)
    x = torch.as_tensor(data, dtype=torch.float32, device=device)
    with torch.no_grad():
        model.x_min.copy_(x.min(dim=0).values)
        model.x_max.copy_(x.max(dim=0).values)
    ensemble = [model.weight, model.hidden_bias, model.visible_bias]
    train_minibatches(
        ensemble,
        lambda idx: model.ensemble_rmse(x[idx]).pow(2).sum(dim=1).mean(),
        x.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=gen,
        device=x.device,
        desc="training KitNET's ensemble",
    )
    with torch.no_grad():
        rmse = torch.cat([model.ensemble_rmse(part) for part in x.split(8192)])
        model.r_min.copy_(rmse.min(dim=0).values)
        model.r_max.copy_(rmse.max(dim=0).values)
    output = [model.out_weight, model.out_hidden_bias, model.out_visible_bias]
    train_minibatches(
        output,
        lambda idx: model.output_loss(rmse[idx]),
        rmse.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=gen,
        device=x.device,
        desc="training KitNET's output layer",
    )
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(part) for part in x.split(8192)]).double().cpu()
        model.threshold.fill_(float(torch.quantile(scores, float(percentile) / 100.0)))
    return model
