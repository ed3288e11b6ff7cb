"""Resuming ``deepaid explain``: a job killed with SIGKILL continues, nothing lost, nothing duplicated."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from deepaid_sdk import explain_file
from deepaid_sdk.explain.manifest import Manifest

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
ROWS, CHUNK = 400, 10


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def big_input(explain_files, tmp_path_factory):
    """600 alert rows (the 40 anomalies, jittered) with an id column."""
    rng = np.random.default_rng(1)
    rows = np.repeat(explain_files.anomalies, ROWS // 40, axis=0) + 0.01 * rng.standard_normal((ROWS, 6))
    path = tmp_path_factory.mktemp("resume") / "alerts.csv"
    pcsv.write_csv(
        pa.table({"event": np.arange(1000, 1000 + ROWS), **{n: rows[:, i] for i, n in enumerate(explain_files.names)}}),
        path,
    )
    return path


def _args(explain_files, src, out):
    return explain_files.cli_args("--batch-size", str(CHUNK), input=src, output=out)


def _api_kwargs(explain_files):
    return {
        "normal": explain_files.normal_csv,
        "id_column": "event",
        "batch_size": CHUNK,
        "quiet": True,
        **explain_files.model_options(),
    }


def test_sigkill_then_resume_matches_an_uninterrupted_run(explain_files, big_input, tmp_path):
    out = tmp_path / "killed.jsonl"
    manifest = out.with_name(out.name + ".manifest.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepaid_sdk.cli", *_args(explain_files, big_input, out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.is_file():
                done = Manifest.load(manifest).chunks_done
                if done >= 3:
                    break
            time.sleep(0.01)  # polling the manifest written by the other process
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    state = Manifest.load(manifest)
    assert 3 <= state.chunks_done < ROWS // CHUNK and not state.complete and not out.exists()

    summary = explain_file("tabular", FACTORY, big_input, out, resume=True, **_api_kwargs(explain_files))
    assert summary.resumed_rows == state.rows_done and summary.rows == ROWS
    assert not out.with_name(out.name + ".parts").exists()

    whole = tmp_path / "whole.jsonl"
    explain_file("tabular", FACTORY, big_input, whole, **_api_kwargs(explain_files))
    got, expected = records(out), records(whole)
    assert [r["id"] for r in got] == list(range(1000, 1000 + ROWS))  # every row exactly once, in order
    assert [r["changed"] for r in got] == [r["changed"] for r in expected]
    for key in ("score", "reference_score"):
        np.testing.assert_allclose([r[key] for r in got], [r[key] for r in expected], rtol=1e-5)
    assert [r["flipped"] for r in got] == [r["flipped"] for r in expected]


def test_resume_refuses_other_options_or_input(explain_files, tmp_path):
    src = tmp_path / "a.csv"
    src.write_bytes(explain_files.csv.read_bytes())
    out = tmp_path / "o.jsonl"
    kwargs = {"normal": explain_files.normal, "id_column": "event", "batch_size": 16, "quiet": True}
    explain_file("tabular", explain_files.model, src, out, **kwargs)
    again = explain_file("tabular", explain_files.model, src, out, resume=True, **kwargs)
    assert again.resumed_rows == again.rows == 40  # complete: nothing explained twice
    with pytest.raises(ValueError, match=r"resume: the options differ .*k: was None, now 3"):
        explain_file("tabular", explain_files.model, src, out, resume=True, k=3, **kwargs)
    with pytest.raises(ValueError, match=r"resume: the options differ .*batch_size: was 16, now 8"):
        explain_file("tabular", explain_files.model, src, out, resume=True, **{**kwargs, "batch_size": 8})
    src.write_bytes(src.read_bytes() + b"e40,h,0,0,0,0,0,0\n")
    with pytest.raises(
        ValueError, match=r"resume: the input's rows in committed chunk 2 changed since the interrupted"
    ):
        explain_file("tabular", explain_files.model, src, out, resume=True, **kwargs)
    # Without --resume the job starts over, once told it may replace the output.
    assert explain_file("tabular", explain_files.model, src, out, overwrite=True, **kwargs).rows == 41
