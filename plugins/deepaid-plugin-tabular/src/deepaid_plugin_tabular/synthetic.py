"""Synthetic tabular data with planted ground truth, and small autoencoders trained on it.

Two designs, both in *model units* (roughly [0, 1] for the blob, unit variance for the
manifold) with an affine map to *original units* so demos can show a scaler's round trip:

- ``blob``: normal rows come from a few tight Gaussian clusters in a bounded box; an
  anomaly is a fresh normal row with a known random subset of features shifted far off its
  cluster. A bottleneck autoencoder models the clusters well, so the shifted features stand
  out in its residual and the detector detects.
- ``manifold``: normal rows are a few latent factors times a fixed random mixing matrix, plus
  small noise; anomalies move a few features off that linear manifold. An autoencoder's
  reconstruction spreads the error over correlated features here, so the plain residual is
  a weaker explanation than on the blob.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import attrs
import numpy as np
from torch import nn

from deepaid_sdk.bench.synthetic import mlp_autoencoder
from deepaid_sdk.bench.synthetic import train_autoencoder as train_mlp_autoencoder
from deepaid_sdk.cache import cache_key, cache_path, cached, load_state, save_state
from deepaid_sdk.records import array_field

_UNITS = ("bytes", "packets", "ms", "ratio", "conns", "ports", "errors", "kb/s")


@attrs.frozen
class SyntheticTable:
    """Normal rows, anomalies and the features each anomaly had shifted (ground truth)."""

    name: str
    normal: np.ndarray = array_field()
    """``[N, D]`` float32 normal rows in model units."""
    anomalies: np.ndarray = array_field()
    """``[M, D]`` float32 anomalous rows in model units."""
    truth: np.ndarray = array_field()
    """``[M, D]`` bool: the features planted in each anomaly."""
    feature_names: tuple[str, ...]
    """One name per feature."""
    offset: np.ndarray = array_field()
    """``[D]``: original units = ``offset + span * model units``."""
    span: np.ndarray = array_field()
    """``[D]`` positive scale of the map to original units."""
    integer: np.ndarray = array_field()
    """``[D]`` bool: features that are whole numbers in original units (counts)."""
    config: dict[str, Any] = attrs.field(factory=dict)
    """Generator parameters, for reproducibility and cache keys."""

    @property
    def width(self) -> int:
        return int(self.normal.shape[1])

    def to_original(self, x: np.ndarray) -> np.ndarray:
        """Rows in original units (counts rounded to whole numbers)."""
        raw = self.offset + self.span * np.asarray(x, dtype=np.float64)
        return np.where(self.integer, np.round(raw), raw)


def _names(width: int, rng: np.random.Generator) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Feature names with a unit suffix, and the affine map to those units (counts are integers)."""
    units = rng.integers(0, len(_UNITS), size=width)
    names = tuple(f"f{j:03d}_{_UNITS[u].replace('/', '_per_')}" for j, u in enumerate(units))
    integer = np.isin(units, [0, 1, 4, 5, 6])  # bytes, packets, conns, ports, errors are counts
    span = np.where(integer, 10.0 ** rng.uniform(2, 4, size=width), 10.0 ** rng.uniform(-1, 2, size=width))
    offset = np.where(integer, np.round(span * rng.uniform(0.5, 2.0, size=width)), 0.0)
    return names, offset, span, integer


def _planted(rng: np.random.Generator, rows: int, width: int, shifted: int) -> np.ndarray:
    """``[rows, width]`` bool with exactly ``shifted`` random features per row."""
    if not 1 <= shifted <= width:
        raise ValueError(f"shifted: expected 1..{width} features to shift; got {shifted}")
    order = np.argsort(rng.random((rows, width)), axis=1)[:, :shifted]
    truth = np.zeros((rows, width), dtype=bool)
    np.put_along_axis(truth, order, True, axis=1)
    return truth


def blob(
    n_normal: int = 4000,
    n_anomalies: int = 50,
    width: int = 100,
    shifted: int = 10,
    *,
    clusters: int = 4,
    noise: float = 0.03,
    shift: tuple[float, float] = (0.3, 0.5),
    seed: int = 0,
) -> SyntheticTable:
    """Clustered normal rows in [0, 1]; anomalies shift ``shifted`` known features by ``shift``.

    Each shift points towards the middle of [0, 1] side with more room, so anomalies stay in
    a plausible range and the box of normal data still holds the reference.
    """
    rng = np.random.default_rng(seed)
    names, offset, span, integer = _names(width, rng)
    centers = rng.uniform(0.2, 0.8, size=(clusters, width))
    sigma = noise * rng.uniform(0.7, 1.3, size=width)

    def rows(n: int) -> np.ndarray:
        return centers[rng.integers(0, clusters, size=n)] + sigma * rng.standard_normal((n, width))

    normal = rows(n_normal)
    base = rows(n_anomalies)
    truth = _planted(rng, n_anomalies, width, shifted)
    direction = np.where(base < 0.5, 1.0, -1.0)
    anomalies = base + truth * direction * rng.uniform(*shift, size=base.shape)
    config = {
        "design": "blob",
        "n_normal": n_normal,
        "n_anomalies": n_anomalies,
        "width": width,
        "shifted": shifted,
        "clusters": clusters,
        "noise": noise,
        "shift": list(shift),
        "seed": seed,
    }
    return SyntheticTable(
        "blob", normal.astype(np.float32), anomalies.astype(np.float32), truth, names, offset, span, integer, config
    )


def manifold(
    n_normal: int = 4000,
    n_anomalies: int = 50,
    width: int = 100,
    shifted: int = 5,
    *,
    latent: int = 8,
    noise: float = 0.05,
    shift: tuple[float, float] = (2.5, 4.0),
    seed: int = 0,
) -> SyntheticTable:
    """Rows on a random ``latent``-dimensional linear manifold; anomalies move ``shifted`` features off it.

    Shifts are ``shift`` times each feature's standard deviation, with a random sign.
    """
    rng = np.random.default_rng(seed)
    names, offset, span, integer = _names(width, rng)
    mixing = rng.standard_normal((latent, width)) / np.sqrt(latent)

    def rows(n: int) -> np.ndarray:
        return rng.standard_normal((n, latent)) @ mixing + noise * rng.standard_normal((n, width))

    normal = rows(n_normal)
    base = rows(n_anomalies)
    truth = _planted(rng, n_anomalies, width, shifted)
    sign = rng.choice([-1.0, 1.0], size=base.shape)
    anomalies = base + truth * sign * rng.uniform(*shift, size=base.shape) * normal.std(axis=0)
    config = {
        "design": "manifold",
        "n_normal": n_normal,
        "n_anomalies": n_anomalies,
        "width": width,
        "shifted": shifted,
        "latent": latent,
        "noise": noise,
        "shift": list(shift),
        "seed": seed,
    }
    return SyntheticTable(
        "manifold", normal.astype(np.float32), anomalies.astype(np.float32), truth, names, offset, span, integer, config
    )


#: Autoencoder training per design: enough for the detector to model normal rows well, in seconds.
TRAINING: dict[str, dict[str, Any]] = {
    "blob": {"denoise": 0.1, "epochs": 12, "lr": 1e-2},
    "manifold": {"epochs": 30, "lr": 1e-2},
}


def make_table(design: str, **options: Any) -> SyntheticTable:
    """``blob(**options)`` or ``manifold(**options)`` by name."""
    makers: dict[str, Callable[..., SyntheticTable]] = {"blob": blob, "manifold": manifold}
    if design not in makers:
        raise ValueError(f"design: expected one of {sorted(makers)}; got {design!r}")
    return makers[design](**options)


def train_autoencoder(
    normal: np.ndarray,
    *,
    hidden: int = 64,
    bottleneck: int = 16,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 3e-3,
    denoise: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """Train an MLP autoencoder on normal rows (MSE, cosine-annealed; optional input noise: a denoising AE)."""
    return train_mlp_autoencoder(
        normal,
        hidden=hidden,
        bottleneck=bottleneck,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        denoise=denoise,
        seed=seed,
        cosine=True,
    )


def cached_autoencoder(
    normal: np.ndarray, *, name: str = "tabular", cache_dir: pathlib.Path | str | None = None, **train_options: Any
) -> nn.Module:
    """``train_autoencoder(normal, **train_options)``, its state dict cached under ``.deepaid-cache/``.

    The cache key covers the training rows' bytes, the options and the torch version; the model
    is rebuilt and its weights loaded with ``weights_only=True`` (no pickled objects).
    """
    rows = np.ascontiguousarray(np.asarray(normal, dtype=np.float32))
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"normal: expected a non-empty array [N, D]; got shape {list(rows.shape)}")
    options = {"hidden": 64, "bottleneck": 16, **train_options}
    path = cache_path(name, cache_key(rows, options={"train": options}), cache_dir)
    model, _ = cached(
        path,
        lambda: train_autoencoder(rows, **options),
        save_state,
        lambda p: load_state(mlp_autoencoder(rows.shape[1], options["hidden"], options["bottleneck"]), p),
    )
    return model
