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
from typing import Any, BinaryIO, Hashable, Iterator, Sequence

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
    """Frame length on the wire in bytes (the record header's original length, not the bytes captured)."""
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
    """File wrapper remembering its last two reads, so a record cut short is noticed and its header read.

    dpkt's readers read a record's header, then its body, then yield the frame: at that moment ``previous``
    and ``last`` hold the record, whose header gives the frame's original (wire) length.
    """

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.requested = 0
        self.got = 0
        self.previous = b""
        self.last = b""

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.requested, self.got = (n if n >= 0 else len(data)), len(data)
        self.previous, self.last = self.last, data
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _byte_order(path: pathlib.Path) -> tuple[str, bool]:
    """``(struct byte order, is pcapng)`` from the file's magic number."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] == b"\x0a\x0d\x0d\x0a":  # pcapng: the section header's byte-order magic
        return ("<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"), True
    return ("<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"), False


def _wire_length(f: _ReadTracker, order: str, pcapng: bool, captured: int) -> int:
    """The frame's original length from the record just read (classic pcap: ``orig_len``; pcapng: the
    packet block's ``packet length``); never below the bytes captured."""
    if pcapng:
        block = f.previous + f.last  # 8 bytes of type and length, then the block
        wire = struct.unpack(order + "I", block[24:28])[0] if len(block) >= 28 else captured
    else:
        wire = struct.unpack(order + "I", f.previous[12:16])[0] if len(f.previous) >= 16 else captured
    return max(int(wire), captured)


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


@attrs.define(eq=False)
class PcapReader:
    """A pcap/pcapng file read in chunks of ``chunk_packets`` packets, with one address table for all chunks.

    Sizes are wire lengths from the record headers, so a capture with a snap length keeps true sizes;
    ``chunks`` warns once at the end how many frames were captured short. ``offset`` (a byte position a
    previous chunk ended at, see ``chunks``) continues a read without the packets before it.
    """

    path: pathlib.Path = attrs.field(converter=pathlib.Path)
    chunk_packets: int = 50_000
    ids: dict[str, int] = attrs.field(factory=dict)
    """Address text -> id, shared by every chunk (give the one of a previous run to continue it)."""
    packets: int = 0
    """Complete packets read so far."""
    snapped: int = 0
    """Frames captured shorter than they were on the wire."""
    undecodable: int = 0
    truncated: bool = False
    """Whether the file ended inside a record."""

    def __attrs_post_init__(self) -> None:
        if not self.path.is_file():
            raise ValueError(f"path: {str(self.path)!r} is not an existing file")
        if isinstance(self.chunk_packets, bool) or not isinstance(self.chunk_packets, int) or self.chunk_packets < 1:
            raise ValueError(f"chunk_packets: expected a whole number >= 1; got {self.chunk_packets!r}")

    def _table(self, rows: list[tuple[float, int, str, str, str, int, int]]) -> PacketTable:
        n = len(rows)
        if not n:
            return PacketTable.from_records([], [], [], [], [], [], [])
        ts, size, mac, src, dst, sport, dport = zip(*rows)
        ids = self.ids
        cols = [np.fromiter((ids.setdefault(a, len(ids)) for a in col), np.int64, n) for col in (mac, src, dst)]
        return PacketTable(
            ts=np.asarray(ts),
            size=np.asarray(size),
            src_mac=cols[0],
            src_ip=cols[1],
            dst_ip=cols[2],
            sport=np.asarray(sport),
            dport=np.asarray(dport),
            labels=tuple(ids),
        )

    def chunks(self, offset: int | None = None) -> Iterator[tuple[PacketTable, int]]:
        """``(table, byte offset after its last packet)`` per chunk; the last chunk may be shorter."""
        order, pcapng = _byte_order(self.path)
        with open(self.path, "rb") as raw:
            f = _ReadTracker(raw)
            reader = _open_reader(f, self.path)
            linktype = reader.datalink()
            if linktype not in _SUPPORTED:
                raise ValueError(
                    f"path: {str(self.path)!r} has link type {linktype}; supported are Ethernet (1), "
                    f"Linux cooked (113) and raw IP ({sorted(_RAW_IP)})"
                )
            if offset is not None:
                raw.seek(offset)
            rows: list[tuple[float, int, str, str, str, int, int]] = []
            for ts, buf in self._records(reader, f):
                wire = _wire_length(f, order, pcapng, len(buf))
                self.snapped += wire > len(buf)
                try:
                    rows.append((float(ts), wire, *_decode(buf, linktype)))
                except (dpkt.UnpackError, struct.error, IndexError, OSError):
                    self.undecodable += 1
                    continue
                if len(rows) == self.chunk_packets:
                    self.packets += len(rows)
                    table, rows = self._table(rows), []  # the decoded tuples go before the caller's work
                    yield table, raw.tell()
                    del table
            self.packets += len(rows)
            if rows:
                table, rows = self._table(rows), []
                yield table, raw.tell()
        self._warn()

    def _records(self, reader: Any, f: _ReadTracker) -> Iterator[tuple[float, bytes]]:
        packets = iter(reader)
        while True:
            try:
                ts, buf = next(packets)
            except StopIteration:
                return
            except (dpkt.UnpackError, struct.error, ValueError):
                self.truncated = True
                return
            if f.got < f.requested:
                self.truncated = True
                return
            yield ts, buf

    def _warn(self) -> None:
        path = self.path
        if self.truncated:
            warnings.warn(
                f"{path}: the capture is truncated; read {self.packets} complete packets before the break",
                stacklevel=3,
            )
        if self.undecodable:
            warnings.warn(f"{path}: skipped {self.undecodable} frames dpkt could not decode", stacklevel=3)
        if self.snapped:
            warnings.warn(
                f"{path}: {self.snapped} of {self.packets + self.undecodable} frames were captured shorter than "
                "on the wire (a snap length); sizes are the wire lengths from the record headers",
                stacklevel=3,
            )


def read_pcap(path: str | os.PathLike[str]) -> PacketTable:
    """Every complete packet of a pcap/pcapng file; a truncated file warns how many were read.

    Sizes are the frames' wire lengths (a snap-length capture warns how many frames were cut).
    Frames dpkt cannot decode are skipped with a warning giving their number.
    """
    reader = PcapReader(pathlib.Path(path), chunk_packets=1 << 62)
    tables = [table for table, _ in reader.chunks()]
    return tables[0] if tables else reader._table([])
