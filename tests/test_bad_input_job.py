"""Nothing lost, nothing overwritten: the explain job's outputs under every mistake a user makes with them."""

import json
import os
import re

import pytest

from deepaid_sdk.cli import main
from deepaid_sdk.explain import explain_file

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
MODEL_ARGS = {"width": 6, "hidden": 12, "bottleneck": 3}
UNRELATED = b'{"mine": "a file the user had"}\n'


def _cli(files, out, *extra, input=None, normal=True):
    return main(files.cli_args(*extra, input=input, output=out, normal=normal))


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def _bad_csv(files, path, rows=(5,)):
    lines = files.csv.read_text().splitlines()
    for r in rows:  # data row r is line r + 1 (after the header): its first feature cell emptied
        cells = lines[r + 1].split(",")
        cells[2] = ""
        lines[r + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def _case_existing_output(files, tmp):
    out = tmp / "out.jsonl"
    out.write_bytes(UNRELATED)
    return [out], {"out": out}, r"output: .*out.jsonl' exists; pass --overwrite"


def _case_output_directory(files, tmp):
    out = tmp / "x.jsonl"
    out.mkdir()
    return [out], {}, r"output: .*x.jsonl' is a directory"


def _case_missing_folder(files, tmp):
    return [tmp / "nope" / "out.jsonl"], {}, r"output: the folder .*nope' does not exist"


def _case_output_is_normal(files, tmp):
    normal = tmp / "normal.jsonl"
    normal.write_bytes(UNRELATED)
    return [normal], {"out": normal}, r"output: .*normal.jsonl' exists"


def _case_output_is_input(files, tmp):
    src = tmp / "alerts.csv"
    src.write_bytes(files.csv.read_bytes())
    return [tmp / "alerts.csv"], {"input": src, "out_kind": "input"}, r"output: .*"


def _case_stale_manifest(files, tmp):
    out = tmp / "out.jsonl"
    (tmp / "out.jsonl.manifest.json").write_text("{}")
    return [out], {}, r"output: an interrupted job's manifest .* pass --resume to continue it, or --overwrite"


def _case_resume_without_manifest(files, tmp):
    out = tmp / "out.jsonl"
    out.write_bytes(UNRELATED)
    return (
        [out, "--resume"],
        {"out": out},
        r"output: .*out.jsonl' exists; pass --overwrite \(overwrite=True\) to replace it$",
    )


def _case_bad_on_error(files, tmp):
    return [tmp / "out.jsonl", "--on-error", "ignore"], {}, r"--on-error: invalid choice: 'ignore'"


def _case_skip_with_ray(files, tmp):
    return (
        [tmp / "out.jsonl", "--on-error", "skip", "--engine", "ray"],
        {},
        r"on_error: 'skip' runs on the local engine",
    )


def _case_bad_row_fails_and_leaves_nothing(files, tmp):
    src = _bad_csv(files, tmp / "bad.csv", rows=(3,))
    return [tmp / "out.jsonl"], {"input": src}, r"input: row id='e3': column 'f0' is empty$"


CLI_CASES = {
    f.__name__[6:]: f
    for f in (
        _case_existing_output,
        _case_output_directory,
        _case_missing_folder,
        _case_output_is_normal,
        _case_stale_manifest,
        _case_resume_without_manifest,
        _case_bad_on_error,
        _case_skip_with_ray,
        _case_bad_row_fails_and_leaves_nothing,
    )
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_refuses_without_losing_anything(case, explain_files, tmp_path, capsys):
    (out, *extra), kept, message = CLI_CASES[case](explain_files, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    listing = _listing(tmp_path)
    with pytest.raises(SystemExit) if case == "bad_on_error" else _no_raise():
        code = _cli(explain_files, out, *extra, input=kept.get("input"))
        assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(message, err.strip().splitlines()[-1]), err
    assert _listing(tmp_path) == listing  # nothing created, nothing removed
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing changed


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cli_overwrite_replaces_and_resume_continues(explain_files, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_bytes(UNRELATED)
    assert _cli(explain_files, out, "--overwrite") == 0
    assert out.read_bytes() != UNRELATED and len(out.read_text().splitlines()) == 40
    assert _cli(explain_files, out, "--resume") == 0  # the job that wrote it: nothing is explained again
    assert "(40 done before the resume)" in capsys.readouterr().out


def test_skip_writes_rejects_and_the_other_records_are_unchanged(explain_files, tmp_path, capsys):
    src = _bad_csv(explain_files, tmp_path / "bad.csv", rows=(3, 17))
    out, clean = tmp_path / "out.jsonl", tmp_path / "clean.jsonl"
    assert _cli(explain_files, out, "--on-error", "skip", "--batch-size", "8", "--json", input=src) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == 2 and summary["rows"] == 38 and summary["rejects"].endswith("out.jsonl.rejects.jsonl")
    rejects = [json.loads(line) for line in (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["row"], r["id"]) for r in rejects] == [(3, "e3"), (17, "e17")]
    assert all("column 'f0' is empty" in r["reason"] for r in rejects)
    assert _cli(explain_files, clean, "--batch-size", "8") == 0
    kept = [json.loads(line) for line in clean.read_text().splitlines() if json.loads(line)["id"] not in ("e3", "e17")]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["alert"], r["flipped"], r["changed"]) for r in got] == [
        (r["id"], r["alert"], r["flipped"], r["changed"]) for r in kept
    ]
    for a, b in zip(got, kept):  # the same search; float32 sums may round otherwise in another batch shape
        for key in ("score", "reference_score", "anomaly_values", "reference_values"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6)
    assert _listing(tmp_path) == [
        "bad.csv",
        "clean.jsonl",
        "clean.jsonl.manifest.json",
        "out.jsonl",
        "out.jsonl.manifest.json",
        "out.jsonl.rejects.jsonl",
    ]


def test_a_fixed_row_past_the_committed_chunks_resumes(explain_files, tmp_path, capsys):
    src = _bad_csv(explain_files, tmp_path / "a.csv", rows=(20,))
    out = tmp_path / "out.jsonl"
    assert _cli(explain_files, out, "--batch-size", "8", input=src) == 2
    err = capsys.readouterr().err
    assert "2 chunks are committed in" in err and "run the same command with --resume" in err
    src.write_bytes(explain_files.csv.read_bytes())  # the user fixes the row
    assert _cli(explain_files, out, "--batch-size", "8", "--resume", input=src) == 0
    assert "(16 done before the resume)" in capsys.readouterr().out
    full = tmp_path / "full.jsonl"
    assert _cli(explain_files, full, "--batch-size", "8") == 0
    assert out.read_text() == full.read_text()


def _api(files, out, **kw):
    return explain_file(
        "tabular",
        FACTORY,
        kw.pop("input", files.csv),
        out,
        model_args=MODEL_ARGS,
        weights=files.weights,
        normal=kw.pop("normal", files.normal_csv),
        id_column="event",
        quiet=True,
        **kw,
    )


def _normal_jsonl(files, path):
    rows = [dict(zip(files.names, map(float, row))) for row in files.normal]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


API_CASES = {
    "existing output": (
        lambda f, t: (t / "o.jsonl").write_bytes(UNRELATED) and {},
        "o.jsonl",
        r"output: .*o.jsonl' exists; pass --overwrite \(overwrite=True\)",
    ),
    "output is a directory": (
        lambda f, t: (t / "o.parquet").mkdir() or {},
        "o.parquet",
        r"output: .*o.parquet' is a directory",
    ),
    "output is the normal file": (
        lambda f, t: {"normal": _normal_jsonl(f, t / "normal.jsonl")},
        "normal.jsonl",
        r"output: .*normal.jsonl' is the normal file; choose another output",
    ),
    "unknown on_error": (
        lambda f, t: {"on_error": "ignore"},
        "o.jsonl",
        r"on_error: expected one of \('fail', 'skip'\); got 'ignore'",
    ),
    "parts path is a file": (
        lambda f, t: (t / "o.jsonl.parts").write_bytes(UNRELATED) and {},
        "o.jsonl",
        r"output: the job's parts folder .*o.jsonl.parts' exists and is not a folder",
    ),
    "a bad row leaves nothing": (
        lambda f, t: {"input": _bad_csv(f, t / "bad.csv", rows=(1,))},
        "o.jsonl",
        r"input: row id='e1': column 'f0' is empty$",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_refuses_without_losing_anything(case, explain_files, tmp_path):
    prepare, name, message = API_CASES[case]
    options = prepare(explain_files, tmp_path) or {}
    listing = _listing(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    out = tmp_path / name
    normal_before = explain_files.normal_csv.read_bytes()
    with pytest.raises(ValueError, match=message):
        _api(explain_files, out, **options)
    assert _listing(tmp_path) == listing
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert explain_files.normal_csv.read_bytes() == normal_before


def test_summary_and_manifest_name_k_and_the_options(explain_files, tmp_path):
    out = tmp_path / "o.jsonl"
    summary = _api(explain_files, out, k=2, options={"box_margin": 0.2})
    manifest = json.loads((tmp_path / "o.jsonl.manifest.json").read_text())
    assert summary.k == 2 and summary.options == {"box_margin": 0.2}
    assert manifest["options"]["k"] == 2 and manifest["options"]["options"] == {"box_margin": 0.2}
    assert "schema" in manifest["options"] and manifest["rejected"] == 0
    assert os.path.getsize(out) > 0
