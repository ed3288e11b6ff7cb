"""AfterImage extraction: the vectorised scan against a per-packet loop, and pcap files the test writes."""

from __future__ import annotations

import math
import socket

import dpkt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepaid_plugin_kitsune.afterimage import decayed_scan, extract_features, pcap_features
from deepaid_plugin_kitsune.names import DECAYS, N_FEATURES
from deepaid_plugin_kitsune.packets import PacketTable, read_pcap

# -- a plain per-packet implementation of the same definitions, for comparison ----------------


class _Loop:
    def __init__(self) -> None:
        self.state: dict = {}

    def update(self, key, t: float, v: float) -> tuple[list[float], list[float], list[float]]:
        w, ls, ss, last = self.state.get(key, ([0.0] * 5, [0.0] * 5, [0.0] * 5, None))
        out_w, out_m, out_v = [], [], []
        nw, nls, nss = [], [], []
        for i, d in enumerate(DECAYS):
            f = 0.0 if last is None else 2.0 ** (-d * max(t - last, 0.0))
            a, b, c = w[i] * f + 1, ls[i] * f + v, ss[i] * f + v * v
            nw.append(a), nls.append(b), nss.append(c)
            m = b / a
            out_w.append(a), out_m.append(m), out_v.append(max(c / a - m * m, 0.0))
        self.state[key] = (nw, nls, nss, t)
        return out_w, out_m, out_v


def _loop_features(p: PacketTable) -> np.ndarray:
    mi, h, hh, jit, hp = _Loop(), _Loop(), _Loop(), _Loop(), _Loop()
    last_stats: dict = {}  # direction key -> (mean, var) after its latest packet
    last_resid: dict = {}  # direction key -> (residuals per decay, time)
    pair_state: dict = {}  # unordered pair -> (sr, w3, time)
    last_seen: dict = {}
    rows = []
    for i in range(len(p)):
        t, v = float(p.ts[i]), float(p.size[i])
        s, dst, sp, dp = int(p.src_ip[i]), int(p.dst_ip[i]), int(p.sport[i]), int(p.dport[i])
        row = []
        for loop, key in ((mi, ("mi", int(p.src_mac[i]), s)), (h, ("h", s))):
            w, m, var = loop.update(key, t, v)
            row += [x for trio in zip(w, m, [math.sqrt(q) for q in var]) for x in trio]

        def two_d(loop: _Loop, fwd, rev) -> list[float]:
            w, m, var = loop.update(fwd, t, v)
            m_r, var_r = last_stats.get(rev, ([0.0] * 5, [0.0] * 5))
            resid = [v - x for x in m]
            pair = tuple(sorted((fwd, rev)))
            sr, w3, tp = pair_state.get(pair, ([0.0] * 5, [0.0] * 5, None))
            out = []
            new_sr, new_w3 = [], []
            for j, d in enumerate(DECAYS):
                f = 0.0 if tp is None else 2.0 ** (-d * max(t - tp, 0.0))
                prod = 0.0
                if rev in last_resid:
                    r_other, t_other = last_resid[rev]
                    prod = resid[j] * r_other[j] * 2.0 ** (-d * max(t - t_other, 0.0))
                new_sr.append(sr[j] * f + prod)
                new_w3.append(w3[j] * f + 1)
                cov = new_sr[j] / new_w3[j]
                spread = math.sqrt(var[j] * var_r[j])
                pcc = min(max(cov / spread, -1.0), 1.0) if spread > 1e-12 else 0.0
                out += [w[j], m[j], math.sqrt(var[j]), math.hypot(m[j], m_r[j]), math.hypot(var[j], var_r[j]), cov, pcc]
            pair_state[pair] = (new_sr, new_w3, t)
            last_stats[fwd] = (m, var)
            last_resid[fwd] = (resid, t)
            return out

        row += two_d(hh, ("hh", s, dst), ("hh", dst, s))
        gap = t - last_seen[(s, dst)] if (s, dst) in last_seen else 0.0
        last_seen[(s, dst)] = t
        w, m, var = jit.update((s, dst), t, gap)
        row += [x for trio in zip(w, m, [math.sqrt(q) for q in var]) for x in trio]
        row += two_d(hp, ("hp", s, sp, dst, dp), ("hp", dst, dp, s, sp))
        rows.append(row)
    return np.asarray(rows)


def _random_table(n: int, seed: int) -> PacketTable:
    rng = np.random.default_rng(seed)
    hosts = [f"10.0.0.{i}" for i in range(4)]
    src = rng.integers(0, 4, n)
    dst = (src + rng.integers(1, 4, n)) % 4
    return PacketTable.from_records(
        ts=np.cumsum(rng.exponential(0.05, n)),
        size=rng.integers(60, 1500, n),
        src_mac=[f"mac{s}" for s in src],
        src_ip=[hosts[s] for s in src],
        dst_ip=[hosts[d] for d in dst],
        sport=rng.choice([80, 1234], n),
        dport=rng.choice([80, 1234], n),
    )


def test_vectorised_extractor_equals_a_per_packet_loop() -> None:
    table = _random_table(300, 0)
    fast = extract_features(table)
    slow = _loop_features(table)
    assert fast.shape == (300, N_FEATURES)
    np.testing.assert_allclose(fast, slow, rtol=1e-7, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(0, 10_000))
def test_decayed_scan_equals_the_recurrence(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (n, 2)) * (rng.uniform(size=(n, 1)) > 0.2)
    b = rng.normal(size=(n, 2, 3))
    expected = np.zeros_like(b)
    for i in range(n):
        expected[i] = b[i] + (a[i][:, None] * expected[i - 1] if i else 0)
    np.testing.assert_allclose(decayed_scan(a, b), expected, rtol=1e-10, atol=1e-12)


# -- pcap files written by the test ---------------------------------------------------------------

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"


def _eth(payload: dpkt.Packet, kind: int = dpkt.ethernet.ETH_TYPE_IP, src: bytes = MAC_A, dst: bytes = MAC_B) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=src, dst=dst, type=kind, data=payload))


def _ip(src: str, dst: str, seg: dpkt.Packet, proto: int) -> dpkt.ip.IP:
    return dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=seg)


def _frames() -> list[tuple[float, bytes]]:
    frames, t = [], 1_700_000_000.0
    for i in range(40):
        t += 0.01 * (1 + i % 3)
        if i % 2:
            seg = dpkt.tcp.TCP(sport=443, dport=50000, data=b"x" * (10 * i))
            frames.append((t, _eth(_ip("10.0.0.2", "10.0.0.1", seg, dpkt.ip.IP_PROTO_TCP), src=MAC_B, dst=MAC_A)))
        else:
            seg = dpkt.udp.UDP(sport=5353, dport=53, data=b"q" * i)
            frames.append((t, _eth(_ip("10.0.0.1", "10.0.0.2", seg, dpkt.ip.IP_PROTO_UDP))))
    icmp = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"ping"))
    frames.append((t + 0.01, _eth(_ip("10.0.0.1", "10.0.0.3", icmp, dpkt.ip.IP_PROTO_ICMP))))
    arp = dpkt.arp.ARP(sha=MAC_A, spa=socket.inet_aton("10.0.0.1"), tha=b"\x00" * 6, tpa=socket.inet_aton("10.0.0.9"))
    frames.append((t + 0.02, _eth(arp, dpkt.ethernet.ETH_TYPE_ARP, dst=b"\xff" * 6)))
    return frames


def _write(path, frames) -> None:
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, frame in frames:
            writer.writepkt(frame, ts=ts)


def test_features_of_a_written_pcap(tmp_path) -> None:
    path = tmp_path / "small.pcap"
    frames = _frames()
    _write(path, frames)
    table = read_pcap(path)
    assert len(table) == len(frames) == 42
    assert table.size.tolist() == [len(f) for _, f in frames]
    assert "10.0.0.9" in table.labels and table.sport[-2] == -1  # ARP addresses, ICMP without ports
    x = pcap_features(path)
    assert x.shape == (42, N_FEATURES) and np.isfinite(x).all()
    # The first packet of every stream has weight 1; the channel 10.0.0.1 -> 10.0.0.2 grows.
    assert np.allclose(x[0, 0:15:3], 1.0)
    assert x[2, 30] > x[0, 30] > 0
    weights, stds = x[:, 0::3][:, :10], x[:, 2::3][:, :10]
    assert (weights >= 1).all() and (stds >= 0).all()


def test_truncated_pcap_keeps_complete_packets_and_warns(tmp_path) -> None:
    path = tmp_path / "cut.pcap"
    frames = _frames()
    _write(path, frames)
    data = path.read_bytes()
    full = pcap_features(path)
    path.write_bytes(data[:-5])  # cut inside the last frame
    with pytest.warns(UserWarning, match=r"truncated; read 41 complete packets"):
        cut = pcap_features(path)
    np.testing.assert_allclose(cut, full[:41])
    path.write_bytes(data[: 24 + 16 + len(frames[0][1]) + 7])  # cut inside the second record header
    with pytest.warns(UserWarning, match=r"read 1 complete packets"):
        assert read_pcap(path).ts.shape == (1,)


def test_not_a_pcap_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("certainly not a capture file\n" * 3)
    with pytest.raises(ValueError, match=r"notes\.txt.*not a pcap or pcapng file"):
        read_pcap(path)
    with pytest.raises(ValueError, match="not an existing file"):
        read_pcap(tmp_path / "missing.pcap")
    with pytest.raises(TypeError, match="packets: expected a PacketTable"):
        extract_features(np.zeros((3, 7)))


def test_packet_table_checks_its_columns() -> None:
    with pytest.raises(ValueError, match="size: expected 2 values"):
        PacketTable.from_records([0.0, 1.0], [60], ["m", "m"], ["a", "a"], ["b", "b"])
    empty = PacketTable.from_records([], [], [], [], [])
    assert extract_features(empty).shape == (0, N_FEATURES)
