"""Synthetic multivariate series with planted anomalies and their ground truth.

Normal behaviour is traffic-like: every feature is a level plus a daily and a half-daily cycle
and a slow shared drift, mixed with feature-specific loadings (so features are correlated), plus
independent noise. Anomalies are *spikes* (one step) or *shifts* (a level change lasting a few
steps) in a known subset of features starting at a known step; events are spaced so that the
window ending at an event's first step has a clean context.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from deepaid_plugin_multits.windows import mask_windows_at, windows_at
from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.records import array_field

_NAMES = (
    "web_rps",
    "api_rps",
    "db_qps",
    "cache_rps",
    "net_in_mbps",
    "net_out_mbps",
    "cpu_pct",
    "mem_gb",
    "queue_len",
    "errors_ps",
)
KINDS = ("spike", "shift")


@attrs.frozen
class SyntheticSeries:
    """A normal training series, a test series with planted events, and the planted cells."""

    train: np.ndarray = array_field()
    """``[T, D]`` float32 normal series (original units)."""
    test: np.ndarray = array_field()
    """``[T2, D]`` float32 series with the planted events (original units)."""
    truth: np.ndarray = array_field()
    """``[T2, D]`` bool: the cells each event changed."""
    onsets: np.ndarray = array_field()
    """``[E]`` the first step of each event in ``test``."""
    kinds: tuple[str, ...]
    """Per event: ``spike`` or ``shift``."""
    feature_names: tuple[str, ...]
    window: int
    """W: events are at least W clean steps apart, so the window ending at an onset is clean."""
    config: dict[str, Any] = attrs.field(factory=dict)
    """Generator parameters, for reproducibility and cache keys."""

    @property
    def features(self) -> int:
        return int(self.train.shape[1])

    def anomaly_samples(self) -> np.ndarray:
        """``[E, W + 1, D]``: the window ending at each event's onset (original units)."""
        return windows_at(self.test, self.onsets, self.window)

    def truth_samples(self) -> np.ndarray:
        """``[E, W + 1, D]`` bool: the planted cells of those windows (in the last row only)."""
        return mask_windows_at(self.truth, self.onsets, self.window)

    def context_offsets(self, seed: int = 0) -> np.ndarray:
        """``[E]`` seeded offsets in ``[1, W - 1]``: how many steps after its onset a context window ends."""
        if self.window < 2:
            raise ValueError(f"window: context offsets need W >= 2; the series has W={self.window}")
        rng = np.random.default_rng(check_positive_int(seed, "seed", minimum=0))
        return rng.integers(1, self.window, size=self.onsets.size)

    def context_samples(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Windows whose event sits in a *context* step, and their planted cells: ``[E, W + 1, D]`` each.

        Window e ends ``context_offsets(seed)[e]`` steps after event e's onset, so a spike lies in
        context row ``W - offset`` (1 .. W - 1: a row the predictor sees and, with steps before
        it, also predicts) and the last vector is clean; a shift may still cover later rows.
        """
        ends = self.onsets + self.context_offsets(seed)
        return windows_at(self.test, ends, self.window), mask_windows_at(self.truth, ends, self.window)


def feature_names(features: int) -> tuple[str, ...]:
    """Readable names for the synthetic features (``f<d>`` beyond the ten named ones)."""
    return tuple(_NAMES[d] if d < len(_NAMES) else f"f{d}" for d in range(features))


def _profile(features: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-feature level, cycle loadings and noise: the fixed 'system' the series come from."""
    groups = rng.integers(0, 3, size=features)  # features of one group share a phase
    phase = rng.uniform(0, 2 * np.pi, size=3)[groups] + rng.normal(0, 0.2, size=features)
    return {
        "level": 10.0 ** rng.uniform(1.5, 3.0, size=features),
        "daily": rng.uniform(0.3, 0.6, size=features),
        "half": rng.uniform(0.0, 0.2, size=features),
        "drift": rng.uniform(0.05, 0.15, size=features),
        "phase": phase,
    }


def traffic(
    length: int, profile: dict[str, np.ndarray], *, period: int, noise: float, start: int, rng: np.random.Generator
) -> np.ndarray:
    """``[length, D]`` normal series of one profile from step ``start`` (original units)."""
    t = np.arange(start, start + length, dtype=np.float64)[:, None]
    angle = 2 * np.pi * t / period + profile["phase"]
    drift = np.zeros(length)
    steps = rng.normal(0.0, 0.3, size=length)
    for i in range(1, length):  # AR(1) drift shared by every feature (generation only)
        drift[i] = 0.97 * drift[i - 1] + steps[i]
    shape = (
        1.0 + profile["daily"] * np.sin(angle) + profile["half"] * np.sin(2 * angle) + profile["drift"] * drift[:, None]
    )
    noisy = shape + noise * rng.standard_normal(shape.shape)
    return (profile["level"] * noisy).astype(np.float32)


def make_multits(
    *,
    features: int = 10,
    window: int = 16,
    train_steps: int = 4000,
    events: int = 200,
    planted: int = 3,
    kinds: tuple[str, ...] = KINDS,
    magnitude: tuple[float, float] = (5.0, 9.0),
    period: int = 48,
    noise: float = 0.05,
    shift_steps: tuple[int, int] = (4, 12),
    seed: int = 0,
) -> SyntheticSeries:
    """Normal training series and a test series with ``events`` planted anomalies.

    Each event changes ``planted`` random features by ``magnitude`` (a uniform range, in units of
    that feature's noise std) with a random sign: for one step (spike) or for ``shift_steps``
    steps (shift).
    """
    features, window = check_positive_int(features, "features"), check_positive_int(window, "window")
    events, planted = check_positive_int(events, "events"), check_positive_int(planted, "planted")
    if planted > features:
        raise ValueError(f"planted: expected at most the number of features ({features}); got {planted}")
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise ValueError(f"kinds: expected a non-empty subset of {KINDS}; got {kinds!r}")
    lo, hi = float(magnitude[0]), float(magnitude[1])
    if not 0 < lo <= hi:
        raise ValueError(f"magnitude: expected 0 < low <= high; got {magnitude!r}")
    rng = np.random.default_rng(seed)
    profile = _profile(features, rng)
    train = traffic(
        check_positive_int(train_steps, "train_steps"), profile, period=period, noise=noise, start=0, rng=rng
    )
    spacing = window + shift_steps[1] + 4
    length = window + events * spacing
    test = traffic(length, profile, period=period, noise=noise, start=train.shape[0], rng=rng)
    truth = np.zeros(test.shape, dtype=bool)
    onsets = window + spacing * np.arange(events) + rng.integers(0, 4, size=events)
    chosen = np.argsort(rng.random((events, features)), axis=1)[:, :planted]
    kind_of = rng.choice(len(kinds), size=events)
    size = rng.uniform(lo, hi, size=(events, planted)) * rng.choice([-1.0, 1.0], size=(events, planted))
    duration = np.where(
        np.asarray(kinds)[kind_of] == "shift", rng.integers(shift_steps[0], shift_steps[1] + 1, size=events), 1
    )
    for e in range(events):  # planting the ground truth (data generation, not a hot path)
        cols = chosen[e]
        rows = slice(onsets[e], onsets[e] + duration[e])
        test[rows, cols] += (size[e] * noise * profile["level"][cols]).astype(np.float32)
        truth[rows, cols] = True
    config = {
        "features": features,
        "window": window,
        "train_steps": int(train.shape[0]),
        "events": events,
        "planted": planted,
        "kinds": list(kinds),
        "magnitude": [lo, hi],
        "period": period,
        "noise": noise,
        "shift_steps": list(shift_steps),
        "seed": seed,
    }
    return SyntheticSeries(
        train=train,
        test=test,
        truth=truth,
        onsets=onsets,
        kinds=tuple(kinds[i] for i in kind_of),
        feature_names=feature_names(features),
        window=window,
        config=config,
    )
