"""Packets as columns, read from pcap/pcapng files with dpkt.

Only what AfterImage needs is kept per packet: time, size, source MAC, source and destination
addresses, ports. Addresses are interned to integer ids so the extractor works on arrays.
"""

from __future__ import annotations

import os
import pathlib
import socket
import struct
import warnings
from typing import Any, BinaryIO, Hashable, Sequence

import attrs
import dpkt
import numpy as np

from deepaid_sdk.records import array_field

#: Link types whose frames start with an IP header.
_RAW_IP = {12, 14, 101, 228, 229}
_SUPPORTED = _RAW_IP | {dpkt.pcap.DLT_EN10MB, dpkt.pcap.DLT_LINUX_SLL}


@attrs.frozen
class PacketTable:
    """``N`` packets as columns; address columns hold ids into ``labels``; port -1 where there is none."""

    ts: np.ndarray = array_field(dtype=np.float64)
    """Arrival time in seconds."""
    size: np.ndarray = array_field(dtype=np.float64)
    """Frame length in bytes."""
    src_mac: np.ndarray = array_field(dtype=np.int64)
    src_ip: np.ndarray = array_field(dtype=np.int64)
    dst_ip: np.ndarray = array_field(dtype=np.int64)
    sport: np.ndarray = array_field(dtype=np.int64)
    dport: np.ndarray = array_field(dtype=np.int64)
    labels: tuple[str, ...] = ()
    """Address text of each id (MACs and IPs share one table)."""

    def __attrs_post_init__(self) -> None:
        n = self.ts.shape[0]
        for field in attrs.fields(type(self))[:-1]:
            value = getattr(self, field.name)
            if value.shape != (n,):
                raise ValueError(f"{field.name}: expected shape [{n}] like ts; got {list(value.shape)}")
        if n and not np.isfinite(self.ts).all():
            raise ValueError("ts: contains NaN or inf")

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def from_records(
        cls,
        ts: Sequence[float],
        size: Sequence[float],
        src_mac: Sequence[Hashable],
        src_ip: Sequence[Hashable],
        dst_ip: Sequence[Hashable],
        sport: Sequence[int] | None = None,
        dport: Sequence[int] | None = None,
    ) -> PacketTable:
        """Build a table from per-packet values; addresses may be any hashable (text, bytes, ints)."""
        n = len(ts)
        for name, col in (
            ("size", size),
            ("src_mac", src_mac),
            ("src_ip", src_ip),
            ("dst_ip", dst_ip),
            ("sport", sport),
            ("dport", dport),
        ):
            if col is not None and len(col) != n:
                raise ValueError(f"{name}: expected {n} values like ts; got {len(col)}")
        ids: dict[Hashable, int] = {}
        cols = [[ids.setdefault(a, len(ids)) for a in col] for col in (src_mac, src_ip, dst_ip)]
        none = np.full(n, -1, dtype=np.int64)
        # array_field(dtype=...) converts each column to its dtype; the arrays are handed over as arrays.
        return cls(
            ts=np.asarray(ts),
            size=np.asarray(size),
            src_mac=np.asarray(cols[0]),
            src_ip=np.asarray(cols[1]),
            dst_ip=np.asarray(cols[2]),
            sport=none if sport is None else np.asarray(sport),
            dport=none if dport is None else np.asarray(dport),
            labels=tuple(str(a) for a in ids),
        )


class _ReadTracker:
    """File wrapper remembering the last read's size, so a record cut short is noticed."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.requested = 0
        self.got = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.requested, self.got = (n if n >= 0 else len(data)), len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(b) == 16 else socket.AF_INET, b)


def _decode(buf: bytes, linktype: int) -> tuple[str, str, str, int, int]:
    """``(src_mac, src_addr, dst_addr, sport, dport)`` of one frame (MACs stand in for IPs off IP)."""
    src_mac = dst_mac = ""
    if linktype == dpkt.pcap.DLT_EN10MB:
        eth = dpkt.ethernet.Ethernet(buf)
        src_mac, dst_mac, net = _mac(eth.src), _mac(eth.dst), eth.data
    elif linktype == dpkt.pcap.DLT_LINUX_SLL:
        sll = dpkt.sll.SLL(buf)
        src_mac, net = _mac(sll.hdr[: sll.hlen]), sll.data
    else:  # raw IP: the version nibble tells v4 from v6
        net = dpkt.ip6.IP6(buf) if buf and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
    if isinstance(net, (dpkt.ip.IP, dpkt.ip6.IP6)):
        seg = net.data
        ports = (seg.sport, seg.dport) if isinstance(seg, (dpkt.tcp.TCP, dpkt.udp.UDP)) else (-1, -1)
        return src_mac, _ip(net.src), _ip(net.dst), *ports
    if isinstance(net, dpkt.arp.ARP):
        return src_mac, _ip(net.spa), _ip(net.tpa), -1, -1
    return src_mac, src_mac, dst_mac, -1, -1


def _open_reader(f: _ReadTracker, path: pathlib.Path) -> Any:
    try:
        return dpkt.pcap.UniversalReader(f)
    except (ValueError, dpkt.UnpackError, struct.error) as exc:
        raise ValueError(f"path: {str(path)!r} is not a pcap or pcapng file ({exc})") from None


def read_pcap(path: str | os.PathLike[str]) -> PacketTable:
    """Every complete packet of a pcap/pcapng file; a truncated file warns how many were read.

    Frames dpkt cannot decode are skipped with a warning giving their number.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"path: {str(path)!r} is not an existing file")
    rows: list[tuple[float, int, str, str, str, int, int]] = []
    truncated, undecodable = False, 0
    with open(path, "rb") as raw:
        f = _ReadTracker(raw)
        reader = _open_reader(f, path)
        linktype = reader.datalink()
        if linktype not in _SUPPORTED:
            raise ValueError(
                f"path: {str(path)!r} has link type {linktype}; supported are Ethernet (1), "
                f"Linux cooked (113) and raw IP ({sorted(_RAW_IP)})"
            )
        packets = iter(reader)
        while True:
            try:
                ts, buf = next(packets)
            except StopIteration:
                break
            except (dpkt.UnpackError, struct.error, ValueError):
                truncated = True
                break
            if f.got < f.requested:
                truncated = True
                break
            try:
                rows.append((float(ts), len(buf), *_decode(buf, linktype)))
            except (dpkt.UnpackError, struct.error, IndexError, OSError):
                undecodable += 1
    if truncated:
        warnings.warn(
            f"{path}: the capture is truncated; read {len(rows)} complete packets before the break", stacklevel=2
        )
    if undecodable:
        warnings.warn(f"{path}: skipped {undecodable} frames dpkt could not decode", stacklevel=2)
    if not rows:
        return PacketTable.from_records([], [], [], [], [], [], [])
    ts_, size, mac, src, dst, sport, dport = zip(*rows)
    return PacketTable.from_records(ts_, size, mac, src, dst, sport, dport)
