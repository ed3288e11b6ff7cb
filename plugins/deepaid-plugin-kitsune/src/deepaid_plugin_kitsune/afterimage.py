"""AfterImage features: damped incremental statistics of five packet streams, in chunks of packets.

Each statistic is a decayed sum ``S_i = 2^(-decay * dt_i) * S_(i-1) + v_i`` over a stream's
packets (``dt_i``: time since the stream's previous packet). That recurrence is linear, so it
is computed for every stream, packet and decay factor of a chunk together by a segmented parallel
scan (log2(N) vectorised passes, no per-packet loop). The 2-D statistics look up, for each packet,
the reverse direction's latest state with one ``searchsorted``; the covariance accumulates the
product of this packet's residual and the reverse direction's last residual (decayed).

``AfterImage`` carries each live stream's latest state from one chunk to the next as a row placed
before the chunk's packets, so a capture read chunk by chunk gives the features of one pass over
it, in memory set by the chunk and the live streams, not by the capture's length. A stream silent
for longer than ``horizon`` seconds (its slowest window kept 2^-20 of its weight) starts afresh,
chunked or not, so the streams of a day of traffic do not pile up.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Sequence

import attrs
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


def _decays(decays: Sequence[float]) -> np.ndarray:
    d = np.asarray(decays, dtype=np.float64)
    if d.ndim != 1 or d.size == 0 or not (np.isfinite(d).all() and (d > 0).all()):
        raise ValueError(f"decays: expected positive decay factors; got {list(decays)}")
    return d


#: A stream silent until its slowest window kept this share of its weight starts afresh.
HORIZON_WEIGHT = 2.0**-20


@attrs.define(eq=False)
class _Carry:
    """The latest state of every live stream of one kind: key columns, time, sums, residual."""

    keys: np.ndarray
    ts: np.ndarray
    sums: np.ndarray
    residual: np.ndarray

    @classmethod
    def empty(cls, width: int, decays: int, sums: int) -> _Carry:
        return cls(np.zeros((0, width), np.int64), np.zeros(0), np.zeros((0, decays, sums)), np.zeros((0, decays)))


class _Scan:
    """Decayed sums of keyed rows (carried states first, then the chunk's packets), in arrival order."""

    def __init__(self, ids: np.ndarray, ts: np.ndarray, b: np.ndarray, decays: np.ndarray, horizon: float) -> None:
        n = ids.shape[0]
        self.ids, self.ts, self.n = ids, ts, n
        self.order = np.argsort(ids, kind="stable")  # by stream, then arrival
        self.sorted_key = ids[self.order]
        t = ts[self.order]
        first = np.ones(n, dtype=bool)
        first[1:] = self.sorted_key[1:] != self.sorted_key[:-1]
        dt = np.maximum(np.diff(t, prepend=t[:1]), 0.0)
        restart = first | (dt > horizon)
        a = np.where(restart[:, None], 0.0, np.exp2(-decays[None, :] * dt[:, None]))
        self.sums = np.empty_like(b)
        self.sums[self.order] = decayed_scan(a, b[self.order])
        self.gap = np.empty(n)
        self.gap[self.order] = np.where(restart, 0.0, dt)
        """Time since the stream's previous row (0 at its first, or after a silence past the horizon)."""

    def last_before(self, key: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each ``(key, index)``, the latest row of stream ``key`` before row ``index``, and whether any."""
        codes = self.sorted_key.astype(np.int64) * self.n + self.order
        pos = np.searchsorted(codes, key.astype(np.int64) * self.n + index, side="left") - 1
        safe = np.maximum(pos, 0)
        found = (pos >= 0) & (self.sorted_key[safe] == key)
        return self.order[safe], found

    def latest(self) -> np.ndarray:
        """Row index of each stream's latest row."""
        last = np.ones(self.n, dtype=bool)
        last[:-1] = self.sorted_key[1:] != self.sorted_key[:-1]
        return self.order[last]


def _ids(keys: np.ndarray) -> np.ndarray:
    """One integer id per distinct row of ``keys`` ``[N, c]`` (ids follow the rows' sorted order)."""
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)


def _moments(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weight = sums[..., 0]
    mean = sums[..., 1] / weight
    return weight, mean, np.maximum(sums[..., 2] / weight - mean**2, 0.0)


def _triples(values: np.ndarray, decays: int) -> np.ndarray:
    n = values.shape[0]
    return np.broadcast_to(np.stack([np.ones(n), values, values * values], axis=1)[:, None, :], (n, decays, 3))


class AfterImage:
    """AfterImage extractor over a capture read in chunks: ``update(chunk)`` gives that chunk's rows.

    Address ids must mean the same address in every chunk (``PcapReader`` keeps one table). Rows are
    the same whatever the chunk sizes (up to float rounding). ``state``/``from_state`` save and restore
    the carried streams, so a resumed job continues where a chunk ended.
    """

    KINDS = ("MI_dir", "H", "HH", "HH_jit", "HpHp", "HH/pair", "HpHp/pair")

    def __init__(self, decays: Sequence[float] = DECAYS, horizon: float | None = None) -> None:
        self.decays = _decays(decays)
        self.horizon = float(-np.log2(HORIZON_WEIGHT) / self.decays.min()) if horizon is None else float(horizon)
        if not self.horizon > 0:
            raise ValueError(f"horizon: expected seconds > 0; got {horizon!r}")
        self.clock = -np.inf
        self.carry: dict[str, _Carry] = {}

    @property
    def width(self) -> int:
        return sum(len(stats) for _, stats in STREAMS) * self.decays.size

    def live_streams(self) -> int:
        """Streams whose state is carried to the next chunk."""
        return sum(c.ts.shape[0] for c in self.carry.values())

    def update(self, packets: PacketTable) -> np.ndarray:
        """``[N, 23 * len(decays)]`` features of the chunk's packets, continuing the streams of earlier chunks."""
        if not isinstance(packets, PacketTable):
            raise TypeError(f"packets: expected a PacketTable; got {type(packets).__name__}")
        n = len(packets)
        if n == 0:
            return np.zeros((0, self.width))
        ts, size = packets.ts, packets.size
        self.clock = max(self.clock, float(ts.max()))
        src, dst = packets.src_ip, packets.dst_ip
        hh = np.stack([src, dst], 1)
        hp = np.stack([src, packets.sport, dst, packets.dport], 1)
        jitter = self._jitter(hh, ts)
        per_stream = {
            "MI_dir": self._one_d("MI_dir", np.stack([packets.src_mac, src], 1), ts, size),
            "H": self._one_d("H", src[:, None], ts, size),
            "HH": self._two_d("HH", hh, np.stack([dst, src], 1), ts, size),
            "HH_jit": self._one_d("HH_jit", hh, ts, jitter),
            "HpHp": self._two_d("HpHp", hp, np.stack([dst, packets.dport, src, packets.sport], 1), ts, size),
        }
        return np.concatenate([per_stream[name].reshape(n, -1) for name, _ in STREAMS], axis=1)

    def _prior(self, kind: str, width: int, sums: int) -> _Carry:
        return self.carry.get(kind) or _Carry.empty(width, self.decays.size, sums)

    def _keep(self, kind: str, scan: _Scan, keys: np.ndarray, sums: np.ndarray, residual: np.ndarray) -> None:
        """Carry each stream's latest row, but not streams silent past the horizon."""
        last = scan.latest()
        last = last[scan.ts[last] >= self.clock - self.horizon]
        self.carry[kind] = _Carry(keys[last], scan.ts[last], sums[last], residual[last])

    def _jitter(self, channel: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Time since the channel's previous packet (0 for its first, or after a silence past the horizon)."""
        prior = self._prior("HH_jit", 2, 3)
        keys = np.concatenate([prior.keys, channel])
        b = np.zeros((keys.shape[0], 1, 1))
        scan = _Scan(_ids(keys), np.concatenate([prior.ts, ts]), b, self.decays[:1], self.horizon)
        return scan.gap[prior.ts.shape[0] :]

    def _one_d(self, kind: str, key: np.ndarray, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``[N, L, 3]``: weight, mean, std of the stream ``key`` names."""
        d = self.decays
        prior = self._prior(kind, key.shape[1], 3)
        p = prior.ts.shape[0]
        keys = np.concatenate([prior.keys, key])
        scan = _Scan(
            _ids(keys),
            np.concatenate([prior.ts, ts]),
            np.concatenate([prior.sums, _triples(values, d.size)]),
            d,
            self.horizon,
        )
        self._keep(kind, scan, keys, scan.sums, np.zeros((keys.shape[0], d.size)))
        weight, mean, var = _moments(scan.sums[p:])
        return np.stack([weight, mean, np.sqrt(var)], axis=-1)

    def _two_d(self, kind: str, fwd: np.ndarray, rev: np.ndarray, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``[N, L, 7]``: the forward direction's 1-D stats plus magnitude, radius, covariance, pcc."""
        d, n, c = self.decays, fwd.shape[0], fwd.shape[1]
        prior = self._prior(kind, c, 3)
        p = prior.ts.shape[0]
        keys = np.concatenate([prior.keys, fwd])
        ids = _ids(np.concatenate([keys, rev]))
        fid, rid = ids[: p + n], ids[p + n :]
        t = np.concatenate([prior.ts, ts])
        scan = _Scan(fid, t, np.concatenate([prior.sums, _triples(values, d.size)]), d, self.horizon)
        _, mean, var = _moments(scan.sums)
        residual = np.concatenate([prior.residual, values[:, None] - mean[p:]])
        self._keep(kind, scan, keys, scan.sums, residual)
        rows = np.arange(p, p + n)
        other, found = scan.last_before(rid, rows)
        gap = np.maximum(ts - t[other], 0.0)
        found &= gap <= self.horizon
        mean_r = np.where(found[:, None], mean[other], 0.0)
        var_r = np.where(found[:, None], var[other], 0.0)
        mean_f, var_f = mean[p:], var[p:]
        magnitude = np.sqrt(mean_f**2 + mean_r**2)
        radius = np.sqrt(var_f**2 + var_r**2)
        # Covariance: decayed sum of (this residual x the reverse direction's last residual, decayed to now).
        product = np.where(found[:, None], residual[p:] * residual[other] * np.exp2(-d[None, :] * gap[:, None]), 0.0)
        covariance = self._pair(kind + "/pair", fid[p:] <= rid, fwd, rev, ts, product)
        spread = np.sqrt(var_f * var_r)
        pcc = np.clip(np.divide(covariance, spread, out=np.zeros_like(spread), where=spread > 1e-12), -1.0, 1.0)
        weight = scan.sums[p:, :, 0]
        return np.stack([weight, mean_f, np.sqrt(var_f), magnitude, radius, covariance, pcc], axis=-1)

    def _pair(
        self,
        kind: str,
        forward_first: np.ndarray,
        fwd: np.ndarray,
        rev: np.ndarray,
        ts: np.ndarray,
        product: np.ndarray,
    ) -> np.ndarray:
        """Covariance of both directions of a pair merged: decayed sum of products over the pair's weight."""
        d = self.decays
        pair = np.where(forward_first[:, None], np.concatenate([fwd, rev], 1), np.concatenate([rev, fwd], 1))
        prior = self._prior(kind, pair.shape[1], 2)
        p = prior.ts.shape[0]
        keys = np.concatenate([prior.keys, pair])
        b = np.concatenate([prior.sums, np.stack([np.ones_like(product), product], axis=-1)])
        scan = _Scan(_ids(keys), np.concatenate([prior.ts, ts]), b, d, self.horizon)
        self._keep(kind, scan, keys, scan.sums, np.zeros((keys.shape[0], d.size)))
        return scan.sums[p:, :, 1] / scan.sums[p:, :, 0]

    def state(self) -> dict[str, np.ndarray]:
        """The carried streams as named arrays (``numpy.savez``-able)."""
        out: dict[str, np.ndarray] = {
            "clock": np.asarray(self.clock),
            "decays": self.decays,
            "horizon": np.asarray(self.horizon),
        }
        for kind, c in self.carry.items():
            for field in ("keys", "ts", "sums", "residual"):
                out[f"{kind}:{field}"] = getattr(c, field)
        return out

    @classmethod
    def from_state(cls, state: Any) -> AfterImage:
        """The extractor ``state()`` was taken from, ready for the next chunk."""
        out = cls(np.asarray(state["decays"]).tolist(), float(state["horizon"]))
        out.clock = float(state["clock"])
        for kind in cls.KINDS:
            if f"{kind}:ts" in state:
                out.carry[kind] = _Carry(
                    *(np.asarray(state[f"{kind}:{f}"]) for f in ("keys", "ts", "sums", "residual"))
                )
        return out


def extract_features(
    packets: PacketTable, decays: Sequence[float] = DECAYS, horizon: float | None = None
) -> np.ndarray:
    """``[N, 23 * len(decays)]`` AfterImage features (115 for the default decays), one row per packet."""
    if not isinstance(packets, PacketTable):
        raise TypeError(f"packets: expected a PacketTable; got {type(packets).__name__}")
    return AfterImage(decays, horizon).update(packets)


def pcap_features(path: str | os.PathLike[str] | pathlib.Path, decays: Sequence[float] = DECAYS) -> np.ndarray:
    """AfterImage features of every complete packet of a pcap/pcapng file."""
    return extract_features(read_pcap(path), decays)
