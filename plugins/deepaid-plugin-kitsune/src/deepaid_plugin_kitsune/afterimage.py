"""AfterImage features: damped incremental statistics of five packet streams, all packets at once.

Each statistic is a decayed sum ``S_i = 2^(-decay * dt_i) * S_(i-1) + v_i`` over a stream's
packets (``dt_i``: time since the stream's previous packet). That recurrence is linear, so it
is computed for every stream, packet and decay factor together by a segmented parallel scan
(log2(N) vectorised passes, no per-packet loop). The 2-D statistics look up, for each packet,
the reverse direction's latest state with one ``searchsorted``; the covariance accumulates the
product of this packet's residual and the reverse direction's last residual (decayed).
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np

from deepaid_plugin_kitsune.names import DECAYS, STREAMS
from deepaid_plugin_kitsune.packets import PacketTable, read_pcap


def decayed_scan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Inclusive scan ``s_i = a_i * s_(i-1) + b_i`` along axis 0; ``a_i = 0`` starts a new segment.

    ``a`` is ``[N, L]``, ``b`` is ``[N, L, C]``; Hillis-Steele doubling, so ``log2`` of the
    longest segment passes, each a few whole-array operations.
    """
    a = np.array(a, dtype=np.float64)
    s = np.array(b, dtype=np.float64)
    n, offset = a.shape[0], 1
    while offset < n and a[offset:].any():
        s[offset:] = s[offset:] + a[offset:, :, None] * s[:-offset]
        a[offset:] = a[offset:] * a[:-offset]
        offset *= 2
    return s


def _ids(*columns: np.ndarray) -> np.ndarray:
    """One integer id per distinct row of the stacked columns."""
    return np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def _decays(decays: Sequence[float]) -> np.ndarray:
    d = np.asarray(decays, dtype=np.float64)
    if d.ndim != 1 or d.size == 0 or not (np.isfinite(d).all() and (d > 0).all()):
        raise ValueError(f"decays: expected positive decay factors; got {list(decays)}")
    return d


class _Stream:
    """Damped sums ``(weight, linear sum, squared sum)`` of one keyed stream, per packet and decay."""

    def __init__(self, key: np.ndarray, ts: np.ndarray, values: np.ndarray, decays: np.ndarray) -> None:
        n = key.shape[0]
        self.order = np.argsort(key, kind="stable")  # by stream, then arrival
        self.sorted_key = key[self.order]
        t = ts[self.order]
        first = np.ones(n, dtype=bool)
        first[1:] = self.sorted_key[1:] != self.sorted_key[:-1]
        dt = np.maximum(np.diff(t, prepend=t[:1]), 0.0)
        #: Decay from the stream's previous packet to this one (0 at its first), in stream order.
        self.a = np.where(first[:, None], 0.0, np.exp2(-decays[None, :] * dt[:, None]))
        v = values[self.order]
        b = np.broadcast_to(np.stack([np.ones(n), v, v * v], axis=1)[:, None, :], (n, decays.size, 3))
        sums = np.empty((n, decays.size, 3))
        sums[self.order] = decayed_scan(self.a, b)
        self.weight = sums[..., 0]
        self.mean = sums[..., 1] / self.weight
        self.var = np.maximum(sums[..., 2] / self.weight - self.mean**2, 0.0)
        self.n = n

    def last_before(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For packet ``i``, the latest earlier packet of stream ``key[i]`` and whether there is one."""
        idx = np.arange(self.n, dtype=np.int64)
        codes = self.sorted_key.astype(np.int64) * self.n + self.order
        pos = np.searchsorted(codes, key.astype(np.int64) * self.n + idx, side="left") - 1
        safe = np.maximum(pos, 0)
        found = (pos >= 0) & (self.sorted_key[safe] == key)
        return self.order[safe], found

    def stats_1d(self) -> np.ndarray:
        """``[N, L, 3]``: weight, mean, std."""
        return np.stack([self.weight, self.mean, np.sqrt(self.var)], axis=-1)


def _stats_2d(
    forward: np.ndarray, reverse: np.ndarray, ts: np.ndarray, values: np.ndarray, decays: np.ndarray
) -> np.ndarray:
    """``[N, L, 7]``: the forward direction's 1-D stats plus magnitude, radius, covariance, pcc."""
    n = forward.shape[0]
    ids = np.unique(np.concatenate([forward, reverse]), axis=0, return_inverse=True)[1].reshape(-1)
    fwd, rev = ids[:n], ids[n:]
    stream = _Stream(fwd, ts, values, decays)
    other, found = stream.last_before(rev)
    mean_r = np.where(found[:, None], stream.mean[other], 0.0)
    var_r = np.where(found[:, None], stream.var[other], 0.0)
    magnitude = np.sqrt(stream.mean**2 + mean_r**2)
    radius = np.sqrt(stream.var**2 + var_r**2)
    # Covariance: decayed sum of (this residual x the reverse direction's last residual, decayed to now).
    residual = values[:, None] - stream.mean
    gap = np.maximum(ts - ts[other], 0.0)
    product = np.where(found[:, None], residual * residual[other] * np.exp2(-decays[None, :] * gap[:, None]), 0.0)
    pair = np.minimum(fwd, rev) * (ids.max() + 1) + np.maximum(fwd, rev)
    both = _Stream(pair, ts, np.zeros(n), decays)  # both directions of the pair, merged
    acc = np.empty((n, decays.size, 1))
    acc[both.order] = decayed_scan(both.a, product[both.order][..., None])
    covariance = acc[..., 0] / both.weight
    spread = np.sqrt(stream.var * var_r)
    pcc = np.clip(np.divide(covariance, spread, out=np.zeros_like(spread), where=spread > 1e-12), -1.0, 1.0)
    return np.concatenate([stream.stats_1d(), np.stack([magnitude, radius, covariance, pcc], axis=-1)], axis=-1)


def _jitter(channel: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Time since the previous packet of the same channel (0 for its first packet)."""
    order = np.argsort(channel, kind="stable")
    k, t = channel[order], ts[order]
    gap = np.maximum(np.diff(t, prepend=t[:1]), 0.0)
    gap[np.r_[True, k[1:] != k[:-1]]] = 0.0
    out = np.empty_like(gap)
    out[order] = gap
    return out


def extract_features(packets: PacketTable, decays: Sequence[float] = DECAYS) -> np.ndarray:
    """``[N, 23 * len(decays)]`` AfterImage features (115 for the default decays), one row per packet."""
    if not isinstance(packets, PacketTable):
        raise TypeError(f"packets: expected a PacketTable; got {type(packets).__name__}")
    d = _decays(decays)
    n = len(packets)
    width = sum(len(stats) for _, stats in STREAMS) * d.size
    if n == 0:
        return np.zeros((0, width))
    ts, size = packets.ts, packets.size
    channel = _ids(packets.src_ip, packets.dst_ip)
    per_stream = {
        "MI_dir": _Stream(_ids(packets.src_mac, packets.src_ip), ts, size, d).stats_1d(),
        "H": _Stream(packets.src_ip, ts, size, d).stats_1d(),
        "HH": _stats_2d(
            np.stack([packets.src_ip, packets.dst_ip], 1), np.stack([packets.dst_ip, packets.src_ip], 1), ts, size, d
        ),
        "HH_jit": _Stream(channel, ts, _jitter(channel, ts), d).stats_1d(),
        "HpHp": _stats_2d(
            np.stack([packets.src_ip, packets.sport, packets.dst_ip, packets.dport], 1),
            np.stack([packets.dst_ip, packets.dport, packets.src_ip, packets.sport], 1),
            ts,
            size,
            d,
        ),
    }
    return np.concatenate([per_stream[name].reshape(n, -1) for name, _ in STREAMS], axis=1)


def pcap_features(path: str | os.PathLike[str] | pathlib.Path, decays: Sequence[float] = DECAYS) -> np.ndarray:
    """AfterImage features of every complete packet of a pcap/pcapng file."""
    return extract_features(read_pcap(path), decays)
