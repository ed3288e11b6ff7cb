"""Synthetic traffic with ground truth: AfterImage-shaped feature rows, and small packet captures.

``traffic_features`` draws, per row, a traffic state (packet rates of host/channel/socket,
packet sizes each way, inter-arrival spread, correlation of the two directions) and turns it
into the 115 statistics the way damped windows behave in a steady state: a window of decay
``d`` holds about ``rate / (d ln 2)`` packets, so the weights of one stream rise together
across decays, means and spreads are noisier in short windows, and the 2-D statistics follow
from both directions. Features of one stream are therefore strongly correlated, as in real
Kitsune data. Anomalies are normal rows with a known change in a known handful of features.

``demo_frames`` builds real Ethernet/IP/TCP/UDP frames with dpkt for a small pcap.
"""

from __future__ import annotations

import pathlib
import socket
from typing import Sequence

import attrs
import dpkt
import numpy as np

from deepaid_plugin_kitsune.names import DECAYS, feature_names

#: Anomaly kinds: which features change and how. ``(stream, decays, stat, low factor, high factor)``.
ANOMALY_KINDS: dict[str, tuple[tuple[str, tuple[float, ...], str, float, float], ...]] = {
    # A flood on one socket: its short-window packet counts jump.
    "flood": (("HpHp", (5.0, 3.0, 1.0), "weight", 8.0, 30.0),),
    # Large uploads on one channel: short-window mean size (and with it the magnitude) jump.
    "exfiltration": (("HH", (5.0, 3.0), "mean", 2.5, 5.0), ("HH", (5.0, 3.0), "magnitude", 2.0, 3.5)),
    # A scan: the host sends far more packets, but no single channel or socket does.
    "scan": (("H", (5.0, 3.0), "weight", 8.0, 30.0), ("MI_dir", (5.0, 3.0), "weight", 8.0, 30.0)),
}


@attrs.frozen(eq=False)
class SyntheticTraffic:
    """Normal training rows, anomalies, and which features each anomaly changed."""

    normal: np.ndarray
    """``[N, 115]`` normal feature rows (for training)."""
    test_normal: np.ndarray
    """``[M, 115]`` held-out normal rows (false-positive rate)."""
    anomalies: np.ndarray
    """``[A, 115]`` anomalous rows."""
    truth: np.ndarray
    """``[A, 115]`` bool: the planted changes."""
    kinds: tuple[str, ...]
    """Anomaly kind of each anomalous row."""
    feature_names: tuple[str, ...] = attrs.field(factory=lambda: tuple(feature_names()))


def _window(decay: float) -> float:
    """Seconds of traffic a damped window of this decay holds (the integral of 2^(-decay t))."""
    return 1.0 / (decay * np.log(2.0))


def _one_d(rng: np.random.Generator, rate: np.ndarray, mean: np.ndarray, std: np.ndarray) -> list[np.ndarray]:
    """Per decay ``[weight, mean, std]`` columns of a stream with these rates and sizes."""
    cols = []
    for d in DECAYS:
        expected = rate * _window(d)
        weight = 1.0 + expected * np.exp(rng.normal(0.0, 1.0, rate.shape) / np.sqrt(1.0 + expected) * 0.5)
        m = np.maximum(mean + std * rng.normal(0.0, 1.0, rate.shape) / np.sqrt(weight), 0.0)
        s = std * np.sqrt(1.0 - 1.0 / weight) * np.exp(rng.normal(0.0, 0.3, rate.shape) / np.sqrt(weight))
        cols.append(np.stack([weight, m, s], axis=1))
    return cols


def _two_d(
    rng: np.random.Generator,
    rate: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    mean_r: np.ndarray,
    std_r: np.ndarray,
    rho: np.ndarray,
) -> list[np.ndarray]:
    """Per decay ``[weight, mean, std, magnitude, radius, covariance, pcc]`` columns."""
    cols = []
    for block in _one_d(rng, rate, mean, std):
        weight, m, s = block.T
        pcc = np.clip(rho + rng.normal(0.0, 0.5, rate.shape) / np.sqrt(weight + 1.0), -1.0, 1.0)
        m_r = np.maximum(mean_r + std_r * rng.normal(0.0, 1.0, rate.shape) / np.sqrt(weight), 0.0)
        s_r = std_r * np.exp(rng.normal(0.0, 0.3, rate.shape) / np.sqrt(weight))
        cols.append(
            np.stack([weight, m, s, np.sqrt(m**2 + m_r**2), np.sqrt(s**4 + s_r**4), pcc * s * s_r, pcc], axis=1)
        )
    return cols


def traffic_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, 115]`` normal AfterImage-shaped rows."""
    host_rate = np.exp(rng.normal(np.log(3.0), 0.7, n))
    channel_rate = host_rate * rng.uniform(0.3, 1.0, n)
    socket_rate = channel_rate * rng.uniform(0.3, 1.0, n)
    host_size = rng.uniform(80.0, 1200.0, n)
    channel_size = host_size * rng.uniform(0.8, 1.2, n)
    socket_size = channel_size * rng.uniform(0.9, 1.1, n)
    spread = rng.uniform(0.2, 0.6, n)
    reply_size = rng.uniform(60.0, 1400.0, n)
    reply_spread = reply_size * rng.uniform(0.2, 0.6, n)
    rho = rng.uniform(-0.3, 0.6, n)
    gap = 1.0 / channel_rate
    streams = [
        _one_d(rng, host_rate, host_size, host_size * spread),  # MI_dir
        _one_d(rng, host_rate, host_size, host_size * spread),  # H
        _two_d(rng, channel_rate, channel_size, channel_size * spread, reply_size, reply_spread, rho),  # HH
        _one_d(rng, channel_rate, gap, gap * rng.uniform(0.7, 1.3, n)),  # HH_jit
        _two_d(rng, socket_rate, socket_size, socket_size * spread, reply_size, reply_spread, rho),  # HpHp
    ]
    return np.concatenate([block for stream in streams for block in stream], axis=1)


def inject(rows: np.ndarray, kinds: Sequence[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Anomalous copies of ``rows`` (one kind per row) and the bool mask of changed features."""
    names = {name: i for i, name in enumerate(feature_names())}
    out, truth = rows.copy(), np.zeros(rows.shape, dtype=bool)
    for i, kind in enumerate(kinds):
        if kind not in ANOMALY_KINDS:
            raise ValueError(f"kinds: unknown anomaly kind {kind!r}; expected one of {sorted(ANOMALY_KINDS)}")
        for stream, decays, stat, low, high in ANOMALY_KINDS[kind]:
            factor = rng.uniform(low, high)  # one factor per change: the windows move together
            for d in decays:
                j = names[f"{stream}_{d:g}_{stat}"]
                out[i, j] *= factor
                truth[i, j] = True
    return out, truth


def traffic_features(
    n_normal: int = 20_000,
    n_anomalies: int = 300,
    *,
    n_test: int = 2000,
    kinds: Sequence[str] | None = None,
    seed: int = 0,
) -> SyntheticTraffic:
    """Normal rows for training, held-out normal rows, and anomalies of every kind in turn."""
    for name, value in (("n_normal", n_normal), ("n_anomalies", n_anomalies), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}: expected a positive integer; got {value!r}")
    kinds = tuple(kinds or sorted(ANOMALY_KINDS))
    rng = np.random.default_rng(seed)
    normal = traffic_rows(n_normal, rng)
    test_normal = traffic_rows(n_test, rng)
    row_kinds = tuple(kinds[i % len(kinds)] for i in range(n_anomalies))
    anomalies, truth = inject(traffic_rows(n_anomalies, rng), row_kinds, rng)
    return SyntheticTraffic(
        normal.astype(np.float32), test_normal.astype(np.float32), anomalies.astype(np.float32), truth, row_kinds
    )


# -- packets ---------------------------------------------------------------------------------


def _frame(
    src_mac: bytes, dst_mac: bytes, src: str, dst: str, sport: int, dport: int, payload: int, udp: bool
) -> bytes:
    seg: dpkt.Packet = (
        dpkt.udp.UDP(sport=sport, dport=dport, data=b"\x00" * payload)
        if udp
        else dpkt.tcp.TCP(sport=sport, dport=dport, flags=dpkt.tcp.TH_ACK, data=b"\x00" * payload)
    )
    ip = dpkt.ip.IP(
        src=socket.inet_aton(src),
        dst=socket.inet_aton(dst),
        p=dpkt.ip.IP_PROTO_UDP if udp else dpkt.ip.IP_PROTO_TCP,
        data=seg,
    )
    return bytes(dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def demo_frames(n: int = 2000, *, hosts: int = 6, seed: int = 0) -> list[tuple[float, bytes]]:
    """``n`` time-ordered Ethernet frames: clients talking TCP/UDP to a server, with replies."""
    rng = np.random.default_rng(seed)
    server, server_mac = "10.0.0.1", b"\x02\x00\x00\x00\x00\x01"
    frames, t = [], 0.0
    for _ in range(n):
        t += float(rng.exponential(0.01))
        h = int(rng.integers(hosts))
        client, mac = f"10.0.1.{h + 10}", bytes([2, 0, 0, 0, 1, h])
        udp = bool(h % 3 == 0)
        sport, dport = 40000 + h, 53 if udp else 443
        size = int(rng.integers(0, 1200))
        if rng.random() < 0.4:  # a reply from the server
            frames.append((t, _frame(server_mac, mac, server, client, dport, sport, size, udp)))
        else:
            frames.append((t, _frame(mac, server_mac, client, server, sport, dport, size, udp)))
    return frames


def write_pcap(path: str | pathlib.Path, frames: Sequence[tuple[float, bytes]]) -> pathlib.Path:
    """Write ``(time, frame)`` pairs as an Ethernet pcap with dpkt."""
    path = pathlib.Path(path)
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, frame in frames:
            writer.writepkt(frame, ts=ts)
    return path
