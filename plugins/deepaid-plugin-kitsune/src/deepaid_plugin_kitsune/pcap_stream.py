"""A capture as a stream: pcap -> AfterImage -> KitNET scores, chunk by chunk, in bounded memory.

Memory is set by ``chunk_packets`` and the streams alive at a time (``AfterImage`` forgets streams
silent past its horizon), not by the capture's length: a day of traffic goes through like a minute.
``stage_alerts`` writes the alerts (packet number, time, features) to Parquet in row groups of ``GROUP_ROWS``,
which is what ``deepaid explain kitsune --input capture.pcap`` explains.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Iterator, Sequence

import attrs
import numpy as np
import torch

from deepaid_plugin_kitsune.afterimage import AfterImage
from deepaid_plugin_kitsune.kitnet import KitNET
from deepaid_plugin_kitsune.malloc import fix_mmap_threshold
from deepaid_plugin_kitsune.names import DECAYS, N_FEATURES, feature_names
from deepaid_plugin_kitsune.packets import PacketTable, PcapReader
from deepaid_sdk.progress import progress

#: Packets per chunk by default (the staged pass's peak RSS ~390 MB with torch loaded, see docs/benchmarks.md).
CHUNK_PACKETS = 20_000
#: Rows KitNET scores at a time.
SCORE_BATCH = 8192
#: Alerts per row group of the staged file: a writer keeps every row group's metadata (~16 KB for 117
#: columns) until it closes, so one group per chunk would grow with the capture's length.
GROUP_ROWS = 4096
PACKET_COLUMN = "packet"
TIME_COLUMN = "time"


@attrs.frozen(eq=False)
class FeatureChunk:
    """One chunk of a capture: its packets, their AfterImage rows and where it starts and ends."""

    first: int
    """Packet number (from 0 in the capture) of the chunk's first packet."""
    packets: PacketTable
    features: np.ndarray
    offset: int
    """Byte offset in the file after the chunk's last packet."""


def feature_chunks(
    path: str | os.PathLike[str],
    chunk_packets: int = CHUNK_PACKETS,
    decays: Sequence[float] = DECAYS,
    quiet: bool = False,
) -> Iterator[FeatureChunk]:
    """The AfterImage rows of a capture, ``chunk_packets`` packets at a time (one pass, one state).

    glibc's mmap threshold is fixed first (``malloc.fix_mmap_threshold``), so freed chunks do not stay resident.
    """
    reader = PcapReader(pathlib.Path(path), chunk_packets)
    fix_mmap_threshold()
    extractor = AfterImage(decays)
    first = 0
    done = 0
    with progress(total=reader.path.stat().st_size, desc="AfterImage", unit="B", unit_scale=True, quiet=quiet) as bar:
        for table, offset in reader.chunks():
            n = len(table)
            yield FeatureChunk(first, table, extractor.update(table), offset)
            del table  # not held while the reader decodes the next chunk
            first += n
            bar.update(offset - done)
            done = offset


def kitnet_scores(model: KitNET, features: np.ndarray, batch: int = SCORE_BATCH) -> np.ndarray:
    """KitNET's score of every row, ``batch`` rows at a time (float64 numpy)."""
    device = model.x_min.device
    out = []
    with torch.no_grad():
        for start in range(0, features.shape[0], batch):
            x = torch.as_tensor(features[start : start + batch], dtype=torch.float32, device=device)
            out.append(model(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


@attrs.frozen
class StagedAlerts:
    """What ``stage_alerts`` wrote: the file, packets read, alerts kept."""

    path: pathlib.Path
    packets: int
    alerts: int


def stage_alerts(
    path: str | os.PathLike[str],
    model: KitNET,
    threshold: float,
    out: str | os.PathLike[str],
    chunk_packets: int = CHUNK_PACKETS,
    quiet: bool = False,
) -> StagedAlerts:
    """Write every packet KitNET scores above ``threshold`` (``packet``, ``time``, its features) to ``out``.

    Written to a temporary name and renamed at the end, so a file under ``out`` is always whole.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(model, KitNET):
        raise TypeError(f"model: expected a KitNET; got {type(model).__name__}")
    names = feature_names() if model.width == N_FEATURES else [f"f{i}" for i in range(model.width)]
    schema = pa.schema([(PACKET_COLUMN, pa.int64()), (TIME_COLUMN, pa.float64()), *((n, pa.float64()) for n in names)])
    out = pathlib.Path(out)
    tmp = out.with_name(out.name + ".part")
    packets = alerts = 0
    pending: list[Any] = []
    with pq.ParquetWriter(tmp, schema) as writer:
        for chunk in feature_chunks(path, chunk_packets, quiet=quiet):
            if chunk.features.shape[1] != model.width:
                raise ValueError(
                    f"model: KitNET takes {model.width} features; AfterImage gives {chunk.features.shape[1]}"
                )
            keep = np.flatnonzero(kitnet_scores(model, chunk.features) > threshold)
            packets += len(chunk.packets)
            alerts += keep.size
            if keep.size:
                cols: list[Any] = [chunk.first + keep, chunk.packets.ts[keep]]
                cols += list(chunk.features[keep].T)
                pending.append(pa.Table.from_arrays([pa.array(c) for c in cols], schema=schema))
            del chunk  # nor this chunk's packets and features while the next one is read
            if sum(t.num_rows for t in pending) >= GROUP_ROWS:  # whole groups out, the rest kept
                held = pa.concat_tables(pending)
                full = held.num_rows - held.num_rows % GROUP_ROWS
                writer.write_table(held.slice(0, full), row_group_size=GROUP_ROWS)
                pending = [held.slice(full)] if full < held.num_rows else []
        if pending or not alerts:
            writer.write_table(pa.concat_tables(pending) if pending else schema.empty_table())
    os.replace(tmp, out)
    return StagedAlerts(out, packets, alerts)
