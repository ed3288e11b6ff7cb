"""Kitsune-style alerts for the Distiller: six attack types and one drift of normal traffic.

Every kind multiplies a known handful of AfterImage features of a normal row (like
``synthetic.inject``); ``backup`` is benign: nightly transfers raise the long-window count
and size of one channel, which KitNET, trained without them, flags again and again (the
recurring false positive). The case trains (or reuses) KitNET, keeps its alerts and explains
them with the public ``deepaid_sdk.create("kitsune", ...)`` preset.
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import attrs
import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.bench import CACHE, N_NORMAL, cached_kitnet
from deepaid_plugin_kitsune.kitnet import KitNET
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.synthetic import traffic_features, traffic_rows
from deepaid_sdk.results import InterpretationBatch

#: ``kind -> ((stream, decays, stat, low factor, high factor), ...)``: the features each kind multiplies.
KINDS: dict[str, tuple[tuple[str, tuple[float, ...], str, float, float], ...]] = {
    "flood": (("HpHp", (5.0, 3.0, 1.0), "weight", 8.0, 30.0),),
    "exfiltration": (("HH", (5.0, 3.0), "mean", 5.0, 10.0), ("HH", (5.0, 3.0), "magnitude", 4.0, 8.0)),
    "scan": (("H", (5.0, 3.0), "weight", 8.0, 30.0), ("MI_dir", (5.0, 3.0), "weight", 8.0, 30.0)),
    "amplification": (("HH", (5.0, 3.0, 1.0), "radius", 20.0, 60.0), ("HpHp", (5.0, 3.0), "std", 5.0, 12.0)),
    "beacon": (("HH_jit", (1.0, 0.1), "mean", 20.0, 60.0), ("HH_jit", (1.0, 0.1), "std", 20.0, 60.0)),
    "slowloris": (("HpHp", (0.1, 0.01), "weight", 10.0, 40.0), ("HpHp", (0.1, 0.01), "std", 4.0, 10.0)),
    "backup": (("HH", (0.1, 0.01), "weight", 8.0, 16.0), ("HH", (0.1, 0.01), "mean", 2.5, 4.0)),
}
#: Attack types an analyst labels (10 alerts each), types never labelled, and the benign drift.
LABELLED = ("flood", "exfiltration", "scan", "amplification")
UNLABELLED = ("beacon", "slowloris")
DRIFT = "backup"
FALSE_POSITIVE = "false_positive"


def kind_rows(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, 115]`` normal rows changed the way ``kind`` changes them (one factor per change and row)."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}; got {kind!r}")
    names = {name: i for i, name in enumerate(feature_names())}
    rows = traffic_rows(n, rng)
    for stream, decays, stat, low, high in KINDS[kind]:
        factor = rng.uniform(low, high, n)
        for d in decays:
            rows[:, names[f"{stream}_{d:g}_{stat}"]] *= factor
    return rows.astype(np.float32)


def verdict_of(kind: str) -> str:
    """The analyst's label of a kind: the attack name, or ``false_positive`` for the drift."""
    return FALSE_POSITIVE if kind == DRIFT else kind


@attrs.frozen(eq=False)
class DistillCase:
    """KitNET, normal rows, and explained alerts of every kind with their true verdicts."""

    model: KitNET
    normal: np.ndarray
    """Training rows of KitNET (normal traffic only)."""
    batch: InterpretationBatch
    """Explained alerts (raw units), in ``kinds`` order."""
    kinds: tuple[str, ...]
    """True kind of each alert."""
    raw_detection: dict[str, float]
    """Share of each kind's rows KitNET raised an alert on."""

    @property
    def verdicts(self) -> tuple[str, ...]:
        return tuple(verdict_of(k) for k in self.kinds)


def alert_rows(
    model: KitNET, kinds: Sequence[str], per_kind: int, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[str, ...], dict[str, float]]:
    """Up to ``per_kind`` rows of each kind that KitNET alerts on, and each kind's detection rate."""
    adapter = KitNETAdapter(model)
    rows, labels, rates = [], [], {}
    for kind in kinds:
        x = kind_rows(kind, int(per_kind * 1.5) + 20, rng)
        with torch.no_grad():
            alert = (~adapter.is_normal(adapter.prepare(x))).cpu().numpy()
        rates[kind] = float(alert.mean())
        keep = x[alert][:per_kind]
        rows.append(keep)
        labels += [kind] * len(keep)
    return np.concatenate(rows), tuple(labels), rates


def distill_case(
    per_kind: int = 110,
    seed: int = 0,
    device: str = "cpu",
    cache: pathlib.Path | None = CACHE,
    n_normal: int = N_NORMAL,
) -> DistillCase:
    """KitNET trained on ``n_normal`` synthetic rows (cached), ``per_kind`` explained alerts of every kind."""
    data = traffic_features(n_normal, 10, seed=seed)
    model = cached_kitnet(data, seed=seed, device=device, cache=cache)
    rng = np.random.default_rng(seed + 1)
    rows, kinds, rates = alert_rows(model, tuple(KINDS), per_kind, rng)
    batch = deepaid_sdk.create("kitsune", model=model, k=5).interpret_batch(rows)
    return DistillCase(model, data.normal, batch, kinds, rates)
