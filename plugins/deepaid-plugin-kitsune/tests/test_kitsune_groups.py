"""Kitsune's feature groups: a statistic across the five decay windows is one cause."""

import numpy as np
import pytest

import deepaid_sdk
from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.names import feature_groups, feature_names
from deepaid_plugin_kitsune.real_traffic import BENIGN, read_capture
from deepaid_plugin_kitsune.synthetic import demo_frames, inject, traffic_rows, write_pcap


def test_groups_are_statistics_across_windows():
    groups = feature_groups()
    assert len(groups) == 115 and len(set(groups)) == 23
    named = dict(zip(feature_names(), groups))
    assert {named[f"HH_jit_{d}_weight"] for d in ("5", "3", "1", "0.1", "0.01")} == {"HH_jit_weight"}
    assert named["HH_5_weight"] != named["HH_jit_5_weight"]


@pytest.fixture(scope="module")
def kitnet():
    rng = np.random.default_rng(0)
    return fit_kitnet(traffic_rows(3000, rng), epochs=3, seed=0), rng


def test_default_budget_counts_groups_and_none_is_the_shortest(kitnet):
    model, rng = kitnet
    adapter = KitNETAdapter(model)
    assert adapter.feature_groups == tuple(feature_groups())
    rows, _ = inject(traffic_rows(60, rng), ["flood"] * 30 + ["scan"] * 30, rng)
    alert = ~adapter.is_normal(adapter.prepare(rows)).numpy()
    rows = rows[alert][:20]
    batch = deepaid_sdk.create("kitsune", model=model, k=2).interpret_batch(rows)
    assert max(len(item.changed_groups()) for item in batch) <= 2
    shortest = deepaid_sdk.create("kitsune", model=model, k=None).interpret_batch(rows)
    assert shortest.flipped.all() and max(len(c) for c in shortest.changed) < 115
    features = deepaid_sdk.create("kitsune", model=model, k=3, budget="features").interpret_batch(rows)
    assert max(len(c) for c in features.changed) <= 3 and features.needs is not None
    with pytest.raises(ValueError, match="budget"):
        deepaid_sdk.create("kitsune", model=model, budget="windows")


def test_capture_packets_are_labelled_by_segment(tmp_path):
    frames = demo_frames(400, seed=1)
    pcap = write_pcap(tmp_path / "c.pcap", frames)
    ts = [t for t, _ in frames]
    start, end = ts[100], ts[300]
    labels = tmp_path / "labels.csv"
    labels.write_text(f"start,end,label,attacker,victim\n{start},{end},scan,10.0.1.10,10.0.0.1\n")
    capture = read_capture(pcap, labels)
    assert capture.features.shape == (400, 115) and capture.types == ["scan"]
    inside = (capture.ts >= start) & (capture.ts <= end)
    assert set(capture.labels[~inside].tolist()) == {BENIGN}
    scan = capture.labels == "scan"
    assert 0 < scan.sum() < inside.sum()  # only the attacker's and the victim's packets in the segment
    assert capture.attack_start == capture.ts[scan].min()
    labels.write_text(f"start,end,label,attacker,victim\n{start},{end},scan,10.9.9.9,10.0.0.1\n")
    with pytest.raises(ValueError, match="no packet"):
        read_capture(pcap, labels)
