"""``deepaid explain --engine ray``: Ray Data on a small local cluster writes what the local engine writes."""

import json

import numpy as np
import pyarrow.parquet as pq

from deepaid_sdk import explain_file

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"


def test_ray_engine_matches_local_engine_row_for_row(explain_files, tmp_path):
    src = tmp_path / "alerts.parquet"
    pq.write_table(explain_files.table, src, row_group_size=9)
    kwargs = {
        "normal": explain_files.normal_csv,
        "batch_size": 8,
        "quiet": True,
        "full": True,
        **explain_files.model_options(),
    }
    local = explain_file("tabular", FACTORY, src, tmp_path / "local.jsonl", **kwargs)
    on_ray = explain_file("tabular", FACTORY, src, tmp_path / "ray.jsonl", engine="ray", workers=1, **kwargs)
    assert on_ray.rows == local.rows == 40 and on_ray.engine == "ray"
    got = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    assert [r["id"] for r in got] == list(range(40))
    assert [r["changed"] for r in got] == [r["changed"] for r in expected]
    assert [r["flipped"] for r in got] == [r["flipped"] for r in expected]
    np.testing.assert_allclose([r["reference"] for r in got], [r["reference"] for r in expected], rtol=1e-5, atol=1e-6)
