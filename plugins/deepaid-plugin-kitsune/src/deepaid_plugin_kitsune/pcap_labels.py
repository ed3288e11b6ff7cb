"""Labels of a capture: time segments during which one attacker attacked one victim.

The lab (``plugins/deepaid-plugin-kitsune/lab/make_capture.sh``) writes them as CSV with the header
``start,end,label,attacker,victim`` (times in epoch seconds, the capture's clock). A packet is an
attack packet when its time is inside a segment and its two IP addresses are that segment's attacker
and victim (either direction); every other packet is ``benign``.
"""

from __future__ import annotations

import csv
import os
import pathlib

import attrs
import numpy as np

from deepaid_plugin_kitsune.packets import PacketTable

BENIGN = "benign"
HEADER = ("start", "end", "label", "attacker", "victim")


@attrs.frozen
class Segment:
    """One attack: from ``start`` to ``end`` (epoch seconds), ``attacker`` against ``victim``."""

    start: float
    end: float
    label: str
    attacker: str
    victim: str


def read_labels(path: str | os.PathLike[str]) -> tuple[Segment, ...]:
    """The segments of a labels CSV; a bad header or row is a ValueError naming the line."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"labels: {str(path)!r} is not an existing file")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        raise ValueError(f"labels: {str(path)!r} must start with the header {','.join(HEADER)}")
    segments = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            start, end, label, attacker, victim = (c.strip() for c in row)
            seg = Segment(float(start), float(end), label, attacker, victim)
        except ValueError:
            raise ValueError(f"labels: {str(path)!r} line {line}: expected {','.join(HEADER)}; got {row}") from None
        if not (seg.end >= seg.start and seg.label and seg.label != BENIGN):
            raise ValueError(f"labels: {str(path)!r} line {line}: expected end >= start and an attack label; got {row}")
        segments.append(seg)
    return tuple(segments)


def packet_labels(packets: PacketTable, segments: tuple[Segment, ...]) -> np.ndarray:
    """The label of every packet (``benign`` outside the segments), as an object array."""
    out = np.full(len(packets), BENIGN, dtype=object)
    ids = {text: i for i, text in enumerate(packets.labels)}
    for seg in segments:
        a, v = ids.get(seg.attacker, -2), ids.get(seg.victim, -2)
        pair = ((packets.src_ip == a) & (packets.dst_ip == v)) | ((packets.src_ip == v) & (packets.dst_ip == a))
        out[pair & (packets.ts >= seg.start) & (packets.ts <= seg.end)] = seg.label
    return out
