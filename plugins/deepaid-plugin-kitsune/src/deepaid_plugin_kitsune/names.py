"""The AfterImage feature layout: 115 damped-window statistics named ``<stream>_<decay>_<statistic>``.

Five streams are tracked per packet, each over five decay factors (``5, 3, 1, 0.1, 0.01``; a
larger factor forgets faster):

- ``MI_dir``: packets sent by the source MAC-IP pair (size statistics),
- ``H``: packets sent by the source IP (size statistics),
- ``HH``: the channel source IP -> destination IP (size statistics plus 2-D statistics
  against the reverse channel),
- ``HH_jit``: inter-arrival times on that channel,
- ``HpHp``: the socket source IP:port -> destination IP:port (like ``HH``).

1-D statistics are ``weight`` (damped packet count), ``mean`` and ``std``; the bidirectional
streams add ``magnitude``, ``radius``, ``covariance`` and ``pcc`` of the two directions.

A statistic over the five windows is one cause seen at five time scales: ``feature_groups`` names
it (``HH_jit_weight``), so explanations count causes, not windows.
"""

from __future__ import annotations

import numpy as np

#: Decay factors, fastest first.
DECAYS: tuple[float, ...] = (5.0, 3.0, 1.0, 0.1, 0.01)
STATS_1D: tuple[str, ...] = ("weight", "mean", "std")
STATS_2D: tuple[str, ...] = ("weight", "mean", "std", "magnitude", "radius", "covariance", "pcc")
#: Streams in feature order, with their statistics.
STREAMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("MI_dir", STATS_1D),
    ("H", STATS_1D),
    ("HH", STATS_2D),
    ("HH_jit", STATS_1D),
    ("HpHp", STATS_2D),
)
#: Statistics that can never be negative (counts, sizes, times, spreads).
NON_NEGATIVE: frozenset[str] = frozenset({"weight", "mean", "std", "magnitude", "radius"})


def decay_label(decay: float) -> str:
    """``5`` for 5.0, ``0.1`` for 0.1: the decay factor as it appears in a feature name."""
    return f"{decay:g}"


def feature_names() -> list[str]:
    """The 115 AfterImage feature names in extractor order (stream, then decay, then statistic)."""
    return [f"{stream}_{decay_label(d)}_{stat}" for stream, stats in STREAMS for d in DECAYS for stat in stats]


N_FEATURES: int = len(feature_names())


def group_name(name: str) -> str:
    """The group of one feature: its statistic across the five decay windows (``HH_jit_weight``)."""
    stream, _, stat = parse_name(name)
    return f"{stream}_{stat}"


def feature_groups() -> list[str]:
    """The group of each of the 115 features: 23 groups of one statistic over the five decay windows."""
    return [group_name(n) for n in feature_names()]


def parse_name(name: str) -> tuple[str, float, str]:
    """``(stream, decay, statistic)`` of one feature name; ValueError for a name outside the layout."""
    front, _, rest = name.rpartition("_")
    head, _, decay = front.rpartition("_")
    known = {s for s, _ in STREAMS}
    try:
        value = float(decay)
    except ValueError:
        value = float("nan")
    if head not in known or value not in DECAYS or rest not in dict(STREAMS)[head]:
        raise ValueError(f"name: {name!r} is not an AfterImage feature name like 'HH_0.1_magnitude'")
    return head, value, rest


def feature_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(low, high)`` in original units: >= 0 for counts/sizes/spreads, pcc in [-1, 1]."""
    low, high = [], []
    for name in feature_names():
        stat = name.rpartition("_")[2]
        low.append(0.0 if stat in NON_NEGATIVE else -1.0 if stat == "pcc" else -np.inf)
        high.append(1.0 if stat == "pcc" else np.inf)
    return np.asarray(low), np.asarray(high)


def indices(stream: str | None = None, decay: float | None = None, stat: str | None = None) -> np.ndarray:
    """Indices of the features matching every given part, e.g. ``indices("HpHp", stat="weight")``."""
    out = []
    for i, name in enumerate(feature_names()):
        s, d, t = parse_name(name)
        if (stream is None or s == stream) and (decay is None or d == decay) and (stat is None or t == stat):
            out.append(i)
    if not out:
        raise ValueError(f"no AfterImage feature matches stream={stream!r}, decay={decay!r}, stat={stat!r}")
    return np.asarray(out, dtype=np.int64)
