"""Write a synthetic capture of N packets quickly, for memory measurements of the streamed pipeline.

    python synth_capture.py OUT.pcap PACKETS [--flows 6000] [--clients 400] [--rate 2000] [--seed 0]

Many flows (clients to servers over TCP and UDP, both directions), sizes as on a LAN (ACKs, full
segments, DNS-sized datagrams). Every frame is captured to its first 54 bytes (a snap length) with its
true wire length in the record header, so the file stays small and the reader's sizes are the wire
sizes. The flows are a fixed pool, so the streams AfterImage tracks do not grow with the length:
what grows with the packet count in a measurement is the pipeline, not the traffic. Records are
written with numpy, a million at a time (about a second per million packets).
"""

from __future__ import annotations

import argparse
import socket
import struct

import dpkt
import numpy as np

SNAP = 54
RECORD = np.dtype([("sec", "<u4"), ("usec", "<u4"), ("cap", "<u4"), ("wire", "<u4"), ("frame", "u1", (SNAP,))])
BLOCK = 1_000_000


def _template(src: int, dst: int, sport: int, dport: int, udp: bool) -> bytes:
    """The first ``SNAP`` bytes of an Ethernet/IPv4/TCP-or-UDP frame between two hosts."""
    seg: dpkt.Packet = (
        dpkt.udp.UDP(sport=sport, dport=dport) if udp else dpkt.tcp.TCP(sport=sport, dport=dport, flags=0x10)
    )
    ip = dpkt.ip.IP(
        src=struct.pack(">I", src),
        dst=struct.pack(">I", dst),
        p=dpkt.ip.IP_PROTO_UDP if udp else dpkt.ip.IP_PROTO_TCP,
        data=seg,
    )
    mac = lambda a: b"\x02\x00" + struct.pack(">I", a)  # noqa: E731
    frame = bytes(dpkt.ethernet.Ethernet(src=mac(src), dst=mac(dst), type=dpkt.ethernet.ETH_TYPE_IP, data=ip))
    return (frame + b"\x00" * SNAP)[:SNAP]


def flows(n: int, clients: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[2n, SNAP]`` frame templates (flow ``i`` forward at ``2i``, its replies at ``2i + 1``), UDP flags,
    and each flow's size profile (0: interactive, 1: bulk download, 2: DNS)."""
    base_c = struct.unpack(">I", socket.inet_aton("10.1.0.0"))[0]
    base_s = struct.unpack(">I", socket.inet_aton("10.9.0.0"))[0]
    services = [(443, False), (80, False), (22, False), (53, True), (123, True), (8080, False)]
    out = np.zeros((2 * n, SNAP), np.uint8)
    udp = np.zeros(n, bool)
    profile = np.zeros(n, np.int64)
    for i in range(n):
        c = base_c + 1 + int(rng.integers(clients))
        s = base_s + 1 + int(rng.integers(24))
        port, is_udp = services[int(rng.integers(len(services)))]
        eph = 32768 + int(rng.integers(28000))
        out[2 * i] = np.frombuffer(_template(c, s, eph, port, is_udp), np.uint8)
        out[2 * i + 1] = np.frombuffer(_template(s, c, port, eph, is_udp), np.uint8)
        udp[i] = is_udp
        profile[i] = 2 if is_udp else int(rng.random() < 0.3)
    return out, udp, profile


def sizes(profile: np.ndarray, reply: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Wire sizes: ACKs and full segments for TCP (bulk replies mostly full), 70-400 bytes for DNS/NTP."""
    n = profile.size
    u = rng.random(n)
    tcp_small = np.where(u < 0.5, 66, rng.integers(66, 600, n))
    bulk = np.where(reply & (u < 0.85), 1514, 66)
    inter = np.where(u < 0.15, rng.integers(600, 1515, n), tcp_small)
    dns = rng.integers(70, 400, n)
    return np.select([profile == 2, profile == 1], [dns, bulk], inter).astype(np.uint32)


def write(
    path: str, packets: int, n_flows: int = 6000, clients: int = 400, rate: float = 2000.0, seed: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    templates, _, profile = flows(n_flows, clients, rng)
    popularity = 1.0 / np.arange(1, n_flows + 1) ** 0.8  # a few heavy flows, a long tail
    popularity /= popularity.sum()
    t = 1_700_000_000.0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAP, 1))
        for start in range(0, packets, BLOCK):
            n = min(BLOCK, packets - start)
            flow = rng.choice(n_flows, size=n, p=popularity)
            reply = rng.random(n) < 0.45
            times = t + np.cumsum(rng.exponential(1.0 / rate, n))
            t = float(times[-1])
            rec = np.zeros(n, RECORD)
            usec = np.round(times * 1e6).astype(np.int64)
            rec["sec"], rec["usec"] = usec // 1_000_000, usec % 1_000_000
            rec["cap"] = SNAP
            rec["wire"] = sizes(profile[flow], reply, rng)
            rec["frame"] = templates[2 * flow + reply]
            ip_len = (rec["wire"] - 14).astype(">u2")
            rec["frame"][:, 16:18] = ip_len.view(np.uint8).reshape(n, 2)
            f.write(rec.tobytes())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("packets", type=int)
    p.add_argument("--flows", type=int, default=6000)
    p.add_argument("--clients", type=int, default=400)
    p.add_argument("--rate", type=float, default=2000.0, help="packets per second")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    write(a.out, a.packets, a.flows, a.clients, a.rate, a.seed)


if __name__ == "__main__":
    main()
