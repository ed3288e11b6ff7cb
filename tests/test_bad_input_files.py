"""Bad files and options, through the CLI and the Python API: one clear line naming the argument, no output.

Also the ids bullet (non-UTF-8 bytes kept exactly) and a property test of the readers: random bytes and
random-but-plausible CSV / JSON lines give a clear ``ValueError`` or a correct result, nothing else.
"""

import json
import re
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepaid_sdk.cli import main
from deepaid_sdk.explain import explain_file
from deepaid_sdk.explain.sources import Source, feature_matrix

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
MODEL_ARGS = {"width": 6, "hidden": 12, "bottleneck": 3}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8


def _write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _with_cell(files, path, row, column, value):
    lines = files.csv.read_text().splitlines()
    header = [h.strip('"') for h in lines[0].split(",")]
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = value
    lines[row + 1] = ",".join(cells)
    return _write(path, "\n".join(lines) + "\n")


# Each case: (files, tmp) -> (input path, normal path, extra CLI args, message regex of the one stderr line).
def _empty_input(f, t):
    return _write(t / "empty.csv", ""), f.normal_csv, [], r"input: .*empty.csv' is empty; expected a header line"


def _empty_normal(f, t):
    return f.csv, _write(t / "n.csv", "\n\n"), [], r"normal: .*n.csv' is empty"


def _png_as_csv(f, t):
    return _write(t / "pic.csv", PNG), f.normal_csv, [], r"input: .*pic.csv' is not a text file \(a NUL byte"


def _png_as_normal(f, t):
    return f.csv, _write(t / "pic.csv", PNG), [], r"normal: .*pic.csv' is not a text file"


def _nan_in_normal(f, t):
    lines = f.normal_csv.read_text().splitlines()
    cells = lines[6].split(",")
    cells[0] = "nan"
    lines[6] = ",".join(cells)
    return f.csv, _write(t / "n.csv", "\n".join(lines) + "\n"), [], r"normal: .*n.csv': row id=5: column 'f0' is"


def _txt_csv(f, t):
    return (
        _write(t / "alerts.txt", f.csv.read_text()),
        f.normal_csv,
        [],
        r"input: .*alerts.txt' is read as text lines \(.log/.txt\), which the tabular preset does not take",
    )


def _unknown_option(f, t):
    return (
        f.csv,
        f.normal_csv,
        ["--option", "nope=3"],
        r"option: the tabular preset has no option 'nope'; it takes threshold, normal, .*box_margin",
    )


def _missing_input(f, t):
    return t / "gone.csv", f.normal_csv, [], r"input: no such file .*gone.csv'"


def _input_is_a_folder(f, t):
    (t / "dir.csv").mkdir()
    return t / "dir.csv", f.normal_csv, [], r"input: (no such file|.*dir.csv' is a directory)"


def _unknown_format(f, t):
    return _write(t / "alerts.xlsx", "x"), f.normal_csv, [], r"input: cannot tell the format of .*alerts.xlsx'"


def _bad_value(f, t):
    return (
        _with_cell(f, t / "a.csv", 7, "f2", "abc"),
        f.normal_csv,
        [],
        r"columns: not numeric \(nor lists of integers\): \['f2'\]",
    )


def _ragged_csv(f, t):
    text = f.csv.read_text().splitlines()
    text[4] = text[4] + ",1,2,3"
    return _write(t / "a.csv", "\n".join(text) + "\n"), f.normal_csv, [], r"input: cannot read .*a.csv' as CSV: .*"


def _broken_jsonl(f, t):
    return (
        _write(t / "a.jsonl", '{"event": "e0", "f0": 1.0\n{"event": "e1"}\n'),
        f.normal_csv,
        [],
        r"input: cannot read .*a.jsonl' as JSONL: ",
    )


def _block_size_too_small(f, t):
    return f.csv, f.normal_csv, ["--block-size", "10"], r"block_size: expected a whole number of bytes >= 1024; got 10"


def _inf_in_input(f, t):
    return _with_cell(f, t / "a.csv", 2, "f1", "inf"), f.normal_csv, [], r"input: row id='e2': column 'f1' is inf"


CLI_CASES = {
    fn.__name__.lstrip("_"): fn
    for fn in (
        _empty_input,
        _empty_normal,
        _png_as_csv,
        _png_as_normal,
        _nan_in_normal,
        _txt_csv,
        _unknown_option,
        _missing_input,
        _input_is_a_folder,
        _unknown_format,
        _bad_value,
        _ragged_csv,
        _broken_jsonl,
        _block_size_too_small,
        _inf_in_input,
    )
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_file(case, explain_files, tmp_path, capsys):
    src, normal, extra, message = CLI_CASES[case](explain_files, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "explain",
            "tabular",
            "--model",
            FACTORY,
            "--model-args",
            json.dumps(MODEL_ARGS),
            "--weights",
            str(explain_files.weights),
            "--normal",
            str(normal),
            "--input",
            str(src),
            "--output",
            str(out),
            "--id-column",
            "event",
            "--quiet",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no parts, no manifest


def _api(files, src, out, **kw):
    return explain_file(
        "tabular",
        FACTORY,
        src,
        out,
        model_args=MODEL_ARGS,
        weights=files.weights,
        normal=kw.pop("normal", files.normal_csv),
        id_column="event",
        quiet=True,
        **kw,
    )


API_CASES = {
    "empty input": (lambda f, t: dict(src=_write(t / "e.csv", "")), r"input: .*e.csv' is empty"),
    "binary input": (lambda f, t: dict(src=_write(t / "p.csv", PNG)), r"input: .*p.csv' is not a text file"),
    "binary normal": (
        lambda f, t: dict(src=f.csv, normal=_write(t / "p.csv", PNG)),
        r"normal: .*p.csv' is not a text file",
    ),
    "nan in normal": (
        lambda f, t: dict(src=f.csv, normal=_nan_in_normal(f, t)[1]),
        r"normal: .*n.csv': row id=5: column 'f0'",
    ),
    ".txt table": (lambda f, t: dict(src=_txt_csv(f, t)[0]), r"input: .*alerts.txt' is read as text lines"),
    "unknown option": (
        lambda f, t: dict(src=f.csv, options={"stepz": 3}),
        r"option: the tabular preset has no option 'stepz'; it takes .*steps",
    ),
    "bad value": (lambda f, t: dict(src=_bad_value(f, t)[0]), r"columns: not numeric .*\['f2'\]"),
    "broken json lines": (lambda f, t: dict(src=_broken_jsonl(f, t)[0]), r"input: cannot read .*a.jsonl' as JSONL"),
    "block size not a number": (
        lambda f, t: dict(src=f.csv, block_size="4MB"),
        r"block_size: expected a whole number of bytes >= 1024; got '4MB'",
    ),
    "input is a folder": (lambda f, t: dict(src=_input_is_a_folder(f, t)[0]), r"input: "),
    "inf in input": (lambda f, t: dict(src=_inf_in_input(f, t)[0]), r"input: row id='e2': column 'f1' is inf"),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_bad_file(case, explain_files, tmp_path):
    kwargs = API_CASES[case][0](explain_files, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match=API_CASES[case][1]):
        _api(explain_files, kwargs.pop("src"), tmp_path / "out.jsonl", **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_one_non_utf8_id_keeps_every_id(explain_files, tmp_path):
    data = explain_files.csv.read_bytes().replace(b'"e3"', b'"e\xff3"', 1)
    assert data != explain_files.csv.read_bytes()
    for name, payload in (("ids.csv", data), ("ids.jsonl", None)):
        src = tmp_path / name
        if payload is None:  # the same rows as JSON lines, the id holding a lone surrogate-free escape of 0xff
            text = "".join(json.dumps(r) + "\n" for r in explain_files.table.to_pylist())
            payload = text.encode().replace(b'"e3"', b'"e\xff3"', 1)
        src.write_bytes(payload)
        out = tmp_path / f"{name}.out.jsonl"
        _api(explain_files, src, out)
        ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
        expected = [f"e{i}" for i in range(40)]
        expected[3] = "e\\xff3"  # the one byte that is not UTF-8, escaped; every other id as it was
        assert ids == expected, (name, ids[:5])


def test_a_csv_header_that_is_not_utf8_is_one_clear_input_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x80,b\n1,2\n")  # the reader's fuzz test found b"\x80\n\x01"
    with pytest.raises(ValueError) as info:  # UnicodeDecodeError is a ValueError: the message tells them apart
        list(Source(path, 16).chunks())
    message = str(info.value)
    assert message.startswith("input: ") and "x.csv" in message and "\n" not in message, message
    assert message.endswith("its column names are not UTF-8 text; save the file as UTF-8"), message


printable = st.text(string.ascii_letters + string.digits + ",.-+e\n \"'", max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=400), printable.map(str.encode)), ext=st.sampled_from([".csv", ".jsonl"]))
def test_readers_give_a_clear_error_or_a_correct_result(data, ext, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / f"x{ext}"
    path.write_bytes(data)
    try:
        source = Source(path, 16)
        tables = list(source.chunks())
        names = list(source.schema.names)
    except ValueError as exc:
        assert str(exc).startswith("input: ") and "\n" not in str(exc)
        return
    assert all(t.schema.names == names for t in tables)
    numeric = [n for n in names if all(str(t.schema.field(n).type) in ("double", "int64") for t in tables)]
    for t in tables:
        try:
            x = feature_matrix(t, numeric, np.arange(t.num_rows))
        except ValueError as exc:
            assert str(exc).startswith("input: ") and "\n" not in str(exc)
            continue
        assert x.shape == (t.num_rows, len(numeric)) and np.isfinite(x).all()
