"""``deepaid explain`` on files: every input and output format, the record schema, strict JSON."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deepaid_sdk import explain_file
from deepaid_sdk.cli import main
from deepaid_sdk.explain import RECORD_COLUMNS
from deepaid_sdk.explain.sinks import check_finite
from deepaid_sdk.explain.sources import Source

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"


def read_records(path):
    if str(path).endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference_run(explain_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out.jsonl"
    summary = explain_files.explain(out)
    return summary, read_records(out)


def test_record_schema_and_content(reference_run, explain_files):
    summary, records = reference_run
    assert summary.rows == len(records) == len(explain_files.anomalies)
    assert summary.columns == tuple(explain_files.names)  # every numeric column but the id; host is text
    assert [r["id"] for r in records] == [f"e{i}" for i in range(len(records))]
    # a budget (k) applied: "needs" says which size reaches normal where it did not (None elsewhere)
    assert list(records[0]) == [*RECORD_COLUMNS, "needs", "sentence"]
    alerts = [r for r in records if r["alert"]]
    assert summary.alerts == len(alerts) >= len(records) // 2
    for r in alerts:
        assert r["score"] > r["threshold"] and set(r["changed"]) <= set(explain_files.names)
        assert len(r["changed"]) == len(r["anomaly_values"]) == len(r["reference_values"]) >= 1
        assert r["flipped"] == (r["reference_score"] <= r["threshold"])
        i = int(r["id"][1:])
        assert r["anomaly_values"] == pytest.approx(
            [explain_files.anomalies[i, explain_files.names.index(n)] for n in r["changed"]], rel=1e-6
        )
    assert summary.flipped == sum(r["flipped"] for r in records if r["alert"])  # rates count alerts only
    assert summary.flipped < sum(r["flipped"] for r in records)  # the rows that are no alert are not counted


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_every_input_format_gives_the_same_records(fmt, reference_run, explain_files, tmp_path):
    src = tmp_path / f"alerts.{fmt}"
    if fmt == "parquet":
        pq.write_table(explain_files.table, src, row_group_size=7)
    else:
        src.write_text("".join(json.dumps(row) + "\n" for row in explain_files.table.to_pylist()))
    out = tmp_path / "out.parquet"
    explain_files.explain(out, src)
    assert pq.read_table(out).column_names == [*RECORD_COLUMNS, "needs", "sentence"]
    _, expected = reference_run
    got = read_records(out)
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert [r["changed"] for r in got] == [r["changed"] for r in expected]
    np.testing.assert_allclose([r["reference_score"] for r in got], [r["reference_score"] for r in expected], rtol=1e-6)


def test_chunks_are_cut_at_fixed_rows(explain_files, tmp_path):
    src = tmp_path / "a.parquet"
    pq.write_table(explain_files.table, src, row_group_size=7)
    sizes = [t.num_rows for t in Source(src, 16).chunks()]
    assert sizes == [16, 16, 8]
    assert [t.num_rows for t in Source(src, 16).chunks(skip_rows=16)] == [16, 8]
    assert Source(src, 16).count_rows() == 40 == Source(explain_files.csv, 16).count_rows()


def test_a_records_keys_do_not_depend_on_its_chunk(explain_files, tmp_path):
    """A chunk of rows the detector accepts carries ``needs`` (null) like the chunks the search ran on."""
    normal = pa.table(
        {
            "event": [f"n{i}" for i in range(8)],
            "host": ["h"] * 8,
            **{n: explain_files.normal[:8, i] for i, n in enumerate(explain_files.names)},
        }
    )
    src = tmp_path / "mixed.parquet"
    pq.write_table(pa.concat_tables([explain_files.table.slice(0, 8), normal]), src)
    out = tmp_path / "mixed.jsonl"
    explain_files.explain(out, src, batch_size=8)  # chunk 1: alerts; chunk 2: normal rows only
    records = read_records(out)
    assert [r["alert"] for r in records[8:]] == [False] * 8
    assert {tuple(r) for r in records} == {(*RECORD_COLUMNS, "needs", "sentence")}
    assert [r["needs"] for r in records[8:]] == [None] * 8


def test_full_adds_the_reference_and_row_numbers_are_ids(explain_files, tmp_path):
    out = tmp_path / "full.jsonl"
    explain_file(
        "tabular",
        explain_files.model,
        explain_files.csv,
        out,
        normal=explain_files.normal,
        k=2,
        full=True,
        columns=explain_files.names,
        batch_size=64,
        quiet=True,
    )
    records = read_records(out)
    assert [r["id"] for r in records] == list(range(40))
    assert list(records[0]) == [*RECORD_COLUMNS, "needs", "reference", "sentence"]
    for r in records:
        assert len(r["reference"]) == 6 and len(r["changed"]) <= 2
        assert r["reference_values"] == [r["reference"][explain_files.names.index(n)] for n in r["changed"]]


def test_non_finite_input_names_row_and_column(explain_files, tmp_path):
    table = explain_files.table.set_column(3, "f1", pa.array([0.0] * 5 + [float("nan")] + [0.0] * 34))
    src = tmp_path / "bad.parquet"
    pq.write_table(table, src)
    with pytest.raises(ValueError, match=r"row id='e5': column 'f1' is nan \(not finite\)"):
        explain_file(
            "tabular", explain_files.model, src, tmp_path / "o.jsonl", threshold=0.3, id_column="event", quiet=True
        )


def test_strict_json_sink_names_row_and_column():
    table = pa.table({"id": ["a", "b"], "score": [1.0, 2.0], "reference_values": [[0.5], [0.1, float("inf")]]})
    with pytest.raises(ValueError, match=r"row id='b': column 'reference_values' is not finite"):
        check_finite(table)
    check_finite(table.slice(0, 1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"columns": ["nope"]}, r"columns: not in the input: \['nope'\]"),
        ({"columns": ["host"]}, r"columns: not numeric \(nor lists of integers\): \['host'\]"),
        ({"id_column": "nope"}, r"id_column: no column 'nope'"),
        ({"threshold": 0.3, "normal": "x.csv"}, r"threshold: pass either threshold or normal"),
        ({"batch_size": 0}, r"batch_size: expected an integer >= 1"),
        ({"engine": "spark"}, r"engine: expected one of"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, match, explain_files, tmp_path):
    options = {"threshold": 0.3, **kwargs}
    with pytest.raises(ValueError, match=match):
        explain_file("tabular", explain_files.model, explain_files.csv, tmp_path / "o.jsonl", quiet=True, **options)


def test_unknown_formats_are_named(explain_files, tmp_path):
    with pytest.raises(ValueError, match=r"output: cannot tell the format of .*o\.txt.*\.jsonl"):
        explain_file("tabular", explain_files.model, explain_files.csv, tmp_path / "o.txt", threshold=0.3)
    with pytest.raises(ValueError, match=r"threshold: pass --threshold T, or --normal FILE"):
        explain_file(
            "gradient",
            explain_files.model,
            explain_files.csv,
            tmp_path / "o.jsonl",
            options={"adapter": "reconstruction"},
            quiet=True,
        )


def test_command_line(explain_files, tmp_path, capsys):
    out = tmp_path / "cli.parquet"
    code = main(
        [
            "explain",
            "tabular",
            "--model",
            FACTORY,
            "--model-args",
            json.dumps({"width": 6, "hidden": 12, "bottleneck": 3}),
            "--weights",
            str(explain_files.weights),
            "--input",
            str(explain_files.csv),
            "--output",
            str(out),
            "--normal",
            str(explain_files.normal_csv),
            "--percentile",
            "95",
            "--k",
            "2",
            "--id-column",
            "event",
            "--columns",
            "f0,f1,f2",
            "f3",
            "f4",
            "f5",
            "--batch-size",
            "25",
            "--option",
            "lam=0.01",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["rows"] == 40 and summary["columns"] == explain_files.names
    table = pq.read_table(out)
    assert table.num_rows == 40 and max(len(c) for c in table.column("changed").to_pylist()) <= 2
    assert captured.err == ""  # no progress bar when stderr is not a terminal


def test_command_line_errors_are_one_line(explain_files, tmp_path, capsys):
    code = main(
        [
            "explain",
            "tabular",
            "--model",
            "nope",
            "--input",
            str(explain_files.csv),
            "--output",
            str(tmp_path / "o.jsonl"),
            "--threshold",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("deepaid explain: error: model: 'nope' is neither a file nor")
    code = main(
        [
            "explain",
            "tabular",
            "--model",
            FACTORY,
            "--input",
            str(explain_files.csv),
            "--output",
            str(tmp_path / "o.jsonl"),
            "--threshold",
            "1",
            "--option",
            "novalue",
        ]
    )
    assert code == 2 and "--option: expected KEY=VALUE; got 'novalue'" in capsys.readouterr().err


def test_csv_column_of_whole_numbers_then_fractions(explain_files, tmp_path):
    """Types are not guessed from the first block alone: a feature column may turn fractional later."""
    src = tmp_path / "late.csv"
    lines = ["event," + ",".join(explain_files.names)]
    lines += [f"e{i}," + ",".join("1" for _ in explain_files.names) for i in range(300000)]  # > one 4 MiB block
    lines += ["e_last," + ",".join("0.5" for _ in explain_files.names)]
    src.write_text("\n".join(lines) + "\n")
    guessed = Source(src, 200000)
    with pytest.raises(ValueError, match=r"input: cannot read .*late.csv' as CSV: .*invalid value '0.5'"):
        list(guessed.chunks())
    source = Source(src, 200000)
    source.floats = tuple(explain_files.names)
    chunks = list(source.chunks())
    assert [t.num_rows for t in chunks] == [200000, 100001]
    assert chunks[-1].column("f0").to_pylist()[-1] == 0.5


def test_parquet_parts_with_different_columns_assemble_into_one_schema(tmp_path):
    """A chunk without domain details, or with a record field that was all null, still joins the output."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deepaid_sdk.explain.sinks import assemble, write_part

    first = pa.table({"id": [0, 1], "verdict": pa.nulls(2)})
    second = pa.table({"id": [2], "verdict": ["scan"], "details": ['{"hops":1}']})
    write_part(first, tmp_path / "p0.parquet", "parquet")
    write_part(second, tmp_path / "p1.parquet", "parquet")
    assemble([tmp_path / "p0.parquet", tmp_path / "p1.parquet"], tmp_path / "out.parquet", "parquet")
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["id", "verdict", "details"]
    assert out.to_pylist() == [
        {"id": 0, "verdict": None, "details": None},
        {"id": 1, "verdict": None, "details": None},
        {"id": 2, "verdict": "scan", "details": '{"hops":1}'},
    ]
    write_part(second, tmp_path / "p.jsonl", "jsonl")
    assert json.loads((tmp_path / "p.jsonl").read_text())["details"] == {"hops": 1}  # an object in JSON lines
