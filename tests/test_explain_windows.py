"""``deepaid explain`` on a time series: a detector of windows gets sliding windows cut from the rows."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import torch

from deepaid_plugin_multits.model import train_predictor
from deepaid_sdk import create, explain_file

W, D = 4, 3


@pytest.fixture(scope="module")
def series_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("series")
    t = np.arange(400)
    normal = np.stack([np.sin(t / 5), np.cos(t / 7), 0.5 * np.sin(t / 3)], axis=1)
    normal = normal + 0.02 * np.random.default_rng(0).standard_normal(normal.shape)
    model = train_predictor(normal.astype(np.float32), W, hidden=8, epochs=4, seed=0)
    torch.save(model.state_dict(), root / "lstm.pt")
    test = normal[:60].copy()
    test[[20, 41], 1] += 3.0  # two spikes
    names = ["cpu", "mem", "net"]
    pcsv.write_csv(
        pa.table({"ts": np.arange(1000, 1060), **{n: test[:, i] for i, n in enumerate(names)}}), root / "series.csv"
    )
    pcsv.write_csv(pa.table({n: normal[:, i] for i, n in enumerate(names)}), root / "normal.csv")
    return root, model, test, normal


def _run(root, out, **extra):
    return explain_file(
        "multits",
        "deepaid_plugin_multits.model:LSTMPredictor",
        root / "series.csv",
        out,
        model_args={"features": D, "hidden": 8},
        weights=root / "lstm.pt",
        normal=root / "normal.csv",
        id_column="ts",
        options={"window": W},
        k=1,
        quiet=True,
        **extra,
    )


def test_windows_cut_across_chunks_match_one_batch(series_files, tmp_path):
    root, model, test, normal = series_files
    out = tmp_path / "o.jsonl"
    summary = _run(root, out, batch_size=7)  # chunks far smaller than the series: windows span chunks
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.rows == len(records) == 60 - W  # one record per window end; the first W rows have none
    assert [r["id"] for r in records] == list(range(1000 + W, 1060))
    flagged = {r["id"] for r in records if r["alert"]}
    assert {1020, 1041} <= flagged
    spike = next(r for r in records if r["id"] == 1020)
    assert spike["changed"] == [f"t={W} mem"]
    # The same windows explained in one batch give the same records.
    interp = create("multits", model=model, window=W, normal=normal, k=1)
    windows = np.lib.stride_tricks.sliding_window_view(test, W + 1, axis=0).transpose(0, 2, 1)
    batch = interp.interpret_batch(np.ascontiguousarray(windows))
    np.testing.assert_allclose([r["reference_score"] for r in records], batch.reference_scores, rtol=1e-5)


def test_windows_refuse_the_ray_engine_and_small_chunks(series_files, tmp_path):
    root, *_ = series_files
    with pytest.raises(ValueError, match=r"batch_size: expected at least the detector's window \(5 rows\)"):
        _run(root, tmp_path / "o.jsonl", batch_size=3)
    with pytest.raises(ValueError, match="needs --engine local"):
        _run(root, tmp_path / "o.jsonl", engine="ray")


def test_window_cells_are_worded_with_their_columns_normal_range(series_files, tmp_path):
    from deepaid_sdk.explain.sentences import NormalStats, ungrounded

    root, _, _, normal = series_files
    out = tmp_path / "o.jsonl"
    _run(root, out, batch_size=20)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    stats = NormalStats.from_dict(json.loads(out.with_name(out.name + ".manifest.json").read_text())["normal_stats"])
    for r in records:
        assert ungrounded(r["sentence"], r, stats) == [], r["sentence"]
    spike = next(r for r in records if r["id"] == 1020)
    assert stats.range_of(f"t={W} mem") == stats.range_of("mem") is not None
    assert spike["sentence"].split(". ")[1].startswith(f"t={W} mem is ") and "(normal " in spike["sentence"]
