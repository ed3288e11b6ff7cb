"""Write a long capture for memory measurements: the lab capture's packets again and again, re-timed.

    python repeat_capture.py IN.pcap OUT.pcap PACKETS

Each pass over IN starts where the previous one ended (times shifted by IN's span plus 1 s), so the
output is one capture of PACKETS packets in time order. Frames are copied as they are.
"""

from __future__ import annotations

import sys

import dpkt


def main(src: str, dst: str, packets: int) -> None:
    with open(src, "rb") as f:
        records = [(ts, buf) for ts, buf in dpkt.pcap.Reader(f)]
    span = records[-1][0] - records[0][0] + 1.0
    written, shift = 0, 0.0
    with open(dst, "wb") as out:
        writer = dpkt.pcap.Writer(out, snaplen=262144)
        while written < packets:
            for ts, buf in records[: packets - written]:
                writer.writepkt(buf, ts + shift)
            written += min(len(records), packets - written)
            shift += span


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
