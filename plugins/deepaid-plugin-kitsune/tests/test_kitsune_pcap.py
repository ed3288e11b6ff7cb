"""Captures: wire-true sizes from snap-length records, streamed chunks, the lab's labels, and
``deepaid explain kitsune --input capture.pcap`` (staged alerts, resumable).

``data/lab_small.pcap`` is cut from the lab capture (``lab/make_capture.sh``): its first 1,500 benign
frames of at most 1,514 bytes, then the first 400 packets from the start of the SYN scan.
"""

from __future__ import annotations

import json
import pathlib
import struct

import dpkt
import numpy as np
import pytest

from deepaid_plugin_kitsune.afterimage import pcap_features
from deepaid_plugin_kitsune.explain_input import KitsuneInput
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.packets import PcapReader, read_pcap
from deepaid_plugin_kitsune.pcap_labels import packet_labels, read_labels
from deepaid_plugin_kitsune.pcap_stream import feature_chunks, kitnet_scores
from deepaid_sdk.explain import explain_file

DATA = pathlib.Path(__file__).parent / "data"
LAB = DATA / "lab_small.pcap"
SNAP = 96


def _frames() -> list[tuple[float, bytes]]:
    with LAB.open("rb") as f:
        return [(ts, buf) for ts, buf in dpkt.pcap.Reader(f)]


def _write_snapped(path: pathlib.Path, frames: list[tuple[float, bytes]], snap: int) -> None:
    """A classic pcap whose records keep ``snap`` bytes of each frame and its original length."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snap, 1))
        for ts, buf in frames:
            sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, min(len(buf), snap), len(buf)) + buf[:snap])


def test_lab_capture_sizes_are_the_frame_lengths() -> None:
    table = read_pcap(LAB)
    frames = _frames()
    assert len(table) == len(frames) == 1900
    assert table.size.tolist() == [len(b) for _, b in frames]


def test_snap_length_capture_keeps_wire_sizes_and_warns(tmp_path) -> None:
    frames = _frames()
    cut = sum(len(b) > SNAP for _, b in frames)
    assert 0 < cut < len(frames)
    path = tmp_path / "snapped.pcap"
    _write_snapped(path, frames, SNAP)
    with pytest.warns(UserWarning, match=rf"{cut} of {len(frames)} frames were captured shorter than on the wire"):
        table = read_pcap(path)
    assert table.size.tolist() == [len(b) for _, b in frames]
    assert table.size.max() > SNAP
    with pytest.warns(UserWarning, match="captured shorter"):
        snapped = pcap_features(path)
    np.testing.assert_allclose(snapped, pcap_features(LAB), rtol=1e-9, atol=1e-6)


def test_snap_length_pcapng_keeps_wire_sizes(tmp_path) -> None:
    frames = _frames()[:200]
    path = tmp_path / "snapped.pcapng"
    with path.open("wb") as f:
        dpkt.pcapng.Writer(f, snaplen=SNAP)  # section header and interface description
        for ts, buf in frames:
            usec = int(round(ts * 1e6))
            block = bytes(
                dpkt.pcapng.EnhancedPacketBlockLE(pkt_data=buf[:SNAP], ts_high=usec >> 32, ts_low=usec & 0xFFFFFFFF)
            )
            f.write(block[:24] + struct.pack("<I", len(buf)) + block[28:])  # dpkt packs pkt_len = captured
    cut = sum(len(b) > SNAP for _, b in frames)
    with pytest.warns(UserWarning, match=rf"{cut} of 200 frames were captured shorter"):
        table = read_pcap(path)
    assert table.size.tolist() == [len(b) for _, b in frames]


def test_chunks_of_a_capture_equal_one_pass() -> None:
    whole = pcap_features(LAB)
    chunks = list(feature_chunks(LAB, chunk_packets=137, quiet=True))
    assert [c.first for c in chunks] == list(range(0, 1900, 137))
    np.testing.assert_allclose(np.concatenate([c.features for c in chunks]), whole, rtol=1e-7, atol=1e-4)
    assert chunks[-1].offset == LAB.stat().st_size


def test_reader_continues_from_an_offset_with_the_same_addresses() -> None:
    reader = PcapReader(LAB, chunk_packets=500)
    first, offset = next(reader.chunks())
    rest = PcapReader(LAB, chunk_packets=5000, ids=dict(reader.ids))
    second, _ = next(rest.chunks(offset))
    table = read_pcap(LAB)
    assert len(first) + len(second) == len(table)
    np.testing.assert_array_equal(second.ts, table.ts[500:])
    assert [second.labels[i] for i in second.src_ip[:50]] == [table.labels[i] for i in table.src_ip[500:550]]


def test_lab_labels_mark_the_attack_pair_inside_the_segment() -> None:
    table = read_pcap(LAB)
    segments = read_labels(DATA / "lab_small_labels.csv")
    kinds = packet_labels(table, segments)
    assert segments[0].label == "syn_scan" and segments[0].attacker == "10.77.0.66"
    assert (kinds[:1500] == "benign").all()  # before the scan started
    scan = kinds == "syn_scan"
    assert 300 < scan.sum() <= 400
    ips = {table.labels[i] for i in np.concatenate([table.src_ip[scan], table.dst_ip[scan]])}
    assert ips == {"10.77.0.66", "10.77.0.10"}


def test_bad_labels_are_clear_errors(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("begin,end,label\n")
    with pytest.raises(ValueError, match="must start with the header start,end,label,attacker,victim"):
        read_labels(path)
    path.write_text("start,end,label,attacker,victim\n5,3,syn_scan,a,b\n")
    with pytest.raises(ValueError, match="line 2: expected end >= start"):
        read_labels(path)


@pytest.fixture(scope="module")
def kitnet_file(tmp_path_factory):
    x = pcap_features(LAB)
    model = fit_kitnet(x[:1200], epochs=2, grace=1000, seed=0)
    path = tmp_path_factory.mktemp("kitnet") / "kitnet.pt"
    model.save(path)
    return path, model, x


def _records(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_explain_a_capture_gives_one_record_per_alert(kitnet_file, tmp_path) -> None:
    path, model, x = kitnet_file
    alerts = np.flatnonzero(kitnet_scores(model, x) > float(model.threshold))
    assert 300 < alerts.size < 1900  # the scan alerts, few benign packets
    out = tmp_path / "records.jsonl"
    summary = explain_file("kitsune", str(path), LAB, out, batch_size=64, quiet=True, options={"chunk_packets": 300})
    got = _records(out)
    assert summary.rows == alerts.size and summary.unit == "alert"
    assert [r["id"] for r in got] == alerts.tolist()  # ids are packet numbers in the capture
    np.testing.assert_allclose([r["score"] for r in got], kitnet_scores(model, x[alerts]), rtol=1e-4)


def test_an_interrupted_capture_job_resumes_where_it_stopped(kitnet_file, tmp_path, monkeypatch) -> None:
    path = kitnet_file[0]
    whole = tmp_path / "whole.jsonl"
    explain_file("kitsune", str(path), LAB, whole, batch_size=64, quiet=True)
    out = tmp_path / "cut.jsonl"
    calls = {"n": 0}
    original = KitsuneInput.to_records

    def failing(self, interpreter, chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("stopped")
        return original(self, interpreter, chunk)

    monkeypatch.setattr(KitsuneInput, "to_records", failing)
    with pytest.raises(RuntimeError, match="stopped"):
        explain_file("kitsune", str(path), LAB, out, batch_size=64, quiet=True)
    monkeypatch.setattr(KitsuneInput, "to_records", original)
    summary = explain_file("kitsune", str(path), LAB, out, batch_size=64, quiet=True, resume=True)
    assert summary.resumed_rows == 128
    assert [(r["id"], r["changed"]) for r in _records(out)] == [(r["id"], r["changed"]) for r in _records(whole)]


def test_a_capture_for_a_preset_that_reads_tables_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="is a packet capture; this preset reads tables"):
        explain_file("tabular", "torch.nn:Identity", LAB, tmp_path / "o.jsonl", threshold=1.0, quiet=True)


def test_capture_bench_reports_each_attack_type() -> None:
    from deepaid_plugin_kitsune.pcap_bench import COLUMNS, run

    report = run(15, pcap=LAB, labels=DATA / "lab_small_labels.csv")
    rows = [dict(zip(COLUMNS, row)) for row in report.rows]
    assert [r["attack"] for r in rows] == ["syn_scan"]
    scan = rows[0]
    assert scan["packets"] == int(
        (packet_labels(read_pcap(LAB), read_labels(DATA / "lab_small_labels.csv")) == "syn_scan").sum()
    )
    assert scan["roc_auc"] > 0.9 and scan["alerted"] > 0.5  # a SYN scan is far from the benign traffic
    assert scan["groups"] <= 10 and scan["changed"] >= scan["groups"]  # the preset's budget: 10 groups
    assert 0.0 <= scan["flip"] <= 1.0 and 0.0 <= scan["distiller_acc"] <= 1.0
    assert report.setup["train_benign"] + report.setup["held_out_benign"] == 1500


def test_capture_bench_needs_both_files(capsys) -> None:
    from deepaid_sdk.cli import main

    assert main(["bench", "kitsune", "--pcap", str(LAB)]) == 2
    assert "needs both --pcap FILE and --labels FILE" in capsys.readouterr().err
