"""``deepaid explain`` on key sequences: a column of integer lists is one DeepLog sample per row."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from deepaid_plugin_deeplog.model import train_deeplog
from deepaid_sdk import explain_file

KEYS, W = 5, 3


@pytest.fixture(scope="module")
def deeplog_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("deeplog")
    cycle = np.arange(400) % KEYS  # normal logs: 0 1 2 3 4 0 1 ...
    windows = np.lib.stride_tricks.sliding_window_view(cycle, W)[:-1]
    model = train_deeplog(windows, cycle[W:], KEYS, hidden=16, layers=1, epochs=200, seed=0)
    torch.save(model.state_dict(), root / "deeplog.pt")
    sequences = [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 1], [0, 1, 2, 0], [4, 0, 1, 2]]  # rows 2 and 3 are off
    pq.write_table(pa.table({"session": ["s0", "s1", "s2", "s3", "s4"], "keys": sequences}), root / "seqs.parquet")
    return root


def test_key_sequence_column(deeplog_files, tmp_path):
    out = tmp_path / "o.jsonl"
    summary = explain_file(
        "deeplog",
        "deepaid_plugin_deeplog.model:DeepLog",
        deeplog_files / "seqs.parquet",
        out,
        model_args={"num_keys": KEYS, "window": W, "hidden": 16, "layers": 1},
        weights=deeplog_files / "deeplog.pt",
        columns=["keys"],
        id_column="session",
        options={"num_candidates": 1},
        quiet=True,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.rows == 5 and [r["id"] for r in records] == ["s0", "s1", "s2", "s3", "s4"]
    assert [r["alert"] for r in records] == [False, False, True, True, False]
    for r in records:
        assert "details" in r and isinstance(r["details"], dict)  # a JSON object, not a string holding one
    flagged = [r for r in records if r["alert"]]
    assert all(r["flipped"] and r["changed"] == ["3"] for r in flagged)  # the next key (position W) is blamed
    assert [r["reference_values"] for r in flagged] == [[0.0], [3.0]]  # the keys the cycle expects next


def test_ragged_sequences_name_the_row(deeplog_files, tmp_path):
    src = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"session": ["a", "b"], "keys": [[0, 1, 2, 3], [1, 2, 3]]}), src)
    with pytest.raises(ValueError, match=r"row id='b': column 'keys' holds 3 values; the rows before it hold 4"):
        explain_file(
            "deeplog",
            "deepaid_plugin_deeplog.model:DeepLog",
            src,
            tmp_path / "o.jsonl",
            model_args={"num_keys": KEYS, "window": W, "hidden": 16, "layers": 1},
            weights=deeplog_files / "deeplog.pt",
            columns=["keys"],
            id_column="session",
            options={"num_candidates": 1},
            quiet=True,
        )
