"""Bounded memory of ``deepaid explain kitsune --input capture.pcap``, checked by what is held, not by RSS.

The staged pass holds one chunk at a time (the previous chunk's packets and features are gone before
the next chunk is computed), its alerts do not depend on the chunk size, and KitNET scores the core's
large blocks of variants a bounded number of rows at a time.
"""

from __future__ import annotations

import pathlib
import weakref

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from deepaid_plugin_kitsune import afterimage, malloc, pcap_stream
from deepaid_plugin_kitsune.adapters import SCORE_ROWS, KitNETAdapter
from deepaid_plugin_kitsune.afterimage import pcap_features
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.pcap_stream import feature_chunks, stage_alerts

LAB = pathlib.Path(__file__).parent / "data" / "lab_small.pcap"


@pytest.fixture(scope="module")
def kitnet():
    x = pcap_features(LAB)
    return fit_kitnet(x[:1200], epochs=2, grace=1000, seed=0)


def _watch_updates(monkeypatch) -> list[tuple[bool, int]]:
    """Patch ``AfterImage.update``: per call, whether any earlier chunk's packets or rows are still alive."""
    seen: list[tuple[bool, int]] = []
    refs: list[weakref.ref] = []
    original = afterimage.AfterImage.update

    def update(self, packets):
        seen.append((any(r() is not None for r in refs), len(packets)))
        rows = original(self, packets)
        refs.extend([weakref.ref(packets.ts), weakref.ref(rows)])
        return rows

    monkeypatch.setattr(afterimage.AfterImage, "update", update)
    return seen


def test_feature_chunks_hold_one_chunk_at_a_time(monkeypatch) -> None:
    seen = _watch_updates(monkeypatch)
    for chunk in feature_chunks(LAB, chunk_packets=300, quiet=True):
        assert len(chunk.packets) <= 300
        del chunk  # the consumer lets go; the stream must not keep it while it reads the next
    assert len(seen) == 7
    assert not any(alive for alive, _ in seen)


def test_staging_holds_one_chunk_at_a_time(kitnet, tmp_path, monkeypatch) -> None:
    seen = _watch_updates(monkeypatch)
    stage_alerts(LAB, kitnet, float(kitnet.threshold), tmp_path / "a.parquet", chunk_packets=300, quiet=True)
    assert len(seen) == 7 and max(n for _, n in seen) == 300
    assert not any(alive for alive, _ in seen)


def test_staged_alerts_do_not_depend_on_the_chunk_size(kitnet, tmp_path) -> None:
    t = float(kitnet.threshold)
    small = stage_alerts(LAB, kitnet, t, tmp_path / "small.parquet", chunk_packets=137, quiet=True)
    whole = stage_alerts(LAB, kitnet, t, tmp_path / "whole.parquet", chunk_packets=5000, quiet=True)
    a, b = pq.read_table(small.path), pq.read_table(whole.path)
    assert small.packets == whole.packets == 1900
    assert a.column("packet").to_pylist() == b.column("packet").to_pylist() and a.num_rows > 100
    np.testing.assert_allclose(a.to_pandas().to_numpy(), b.to_pandas().to_numpy(), rtol=1e-7, atol=1e-4)


def test_kitnet_scores_large_blocks_a_bounded_number_of_rows_at_a_time(kitnet) -> None:
    adapter = KitNETAdapter(kitnet)
    x = torch.as_tensor(pcap_features(LAB)[np.arange(2 * SCORE_ROWS + 7) % 1900], dtype=torch.float32)
    sizes: list[int] = []
    handle = kitnet.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            chunked = adapter.score(x)
        with torch.enable_grad():
            whole = adapter.score(x)  # with a gradient: one call (the search's own batch)
    finally:
        handle.remove()
    assert sizes == [SCORE_ROWS, SCORE_ROWS, 7, x.shape[0]]
    torch.testing.assert_close(chunked, whole.detach(), rtol=1e-5, atol=1e-6)


def test_staged_row_groups_are_whole_groups_not_one_per_chunk(kitnet, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pcap_stream, "GROUP_ROWS", 64)
    staged = stage_alerts(LAB, kitnet, float(kitnet.threshold), tmp_path / "a.parquet", chunk_packets=137, quiet=True)
    meta = pq.ParquetFile(staged.path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == staged.alerts > 3 * 64
    assert sizes[:-1] == [64] * (len(sizes) - 1) and 0 < sizes[-1] <= 64


def test_streaming_fixes_glibcs_mmap_threshold_unless_the_user_set_one(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(malloc.ctypes, "CDLL", lambda name: Libc())
    monkeypatch.setattr(malloc.platform, "system", lambda: "Linux")
    monkeypatch.setattr(malloc.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.delenv(malloc.ENV, raising=False)
    next(feature_chunks(LAB, chunk_packets=500, quiet=True))
    assert calls == [(malloc.M_MMAP_THRESHOLD, malloc.THRESHOLD)]
    monkeypatch.setenv(malloc.ENV, "65536")
    assert not malloc.fix_mmap_threshold() and len(calls) == 1
    monkeypatch.delenv(malloc.ENV)
    monkeypatch.setattr(malloc.platform, "libc_ver", lambda: ("", ""))
    assert not malloc.fix_mmap_threshold() and len(calls) == 1
