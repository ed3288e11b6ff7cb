"""Columns are matched by name, never by position: file jobs, DataFrames and Arrow tables.

The feature schema (names in the model's order) comes from ``--normal``'s header, a DataFrame given as
``normal=``, ``features=`` names, or ``WEIGHTS.schema.json`` beside the weights; a different column order
never changes a result.
"""

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import deepaid_sdk
from deepaid_sdk import ExtraColumnsWarning, FeatureSchema, explain_file
from deepaid_sdk.cli import main

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _same_records(got, expected):
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert [r["changed"] for r in got] == [r["changed"] for r in expected]
    assert [r["alert"] for r in got] == [r["alert"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=1e-6)
    np.testing.assert_allclose([r["reference_score"] for r in got], [r["reference_score"] for r in expected], rtol=1e-6)


def _shuffled_csv(explain_files, path, order):
    pcsv.write_csv(explain_files.table.select(order), path)
    return path


@pytest.fixture(scope="module")
def ordered(explain_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("ordered") / "out.jsonl"
    summary = explain_files.explain(out, k=2)
    return summary, _records(out), out


def test_alert_file_in_another_column_order_gives_the_same_records(explain_files, ordered, tmp_path):
    src = _shuffled_csv(explain_files, tmp_path / "shuffled.csv", ["f3", "event", "f5", "f0", "host", "f4", "f2", "f1"])
    out = tmp_path / "out.jsonl"
    summary = explain_files.explain(out, src, k=2)
    _same_records(_records(out), ordered[1])
    assert summary.columns == tuple(explain_files.names)  # the model's order, from --normal's header
    assert summary.schema == f"--normal {explain_files.normal_csv}"


def test_extra_columns_are_named_in_the_summary_and_ignored(ordered):
    summary = ordered[0]
    assert summary.extra_columns == ("host",)
    assert "ignored columns not in the schema: ['host']" in summary.text()
    assert summary.to_dict()["extra_columns"] == ("host",)


def test_schema_is_in_the_manifest_and_the_resume_check(explain_files, ordered, tmp_path):
    manifest = json.loads(ordered[2].with_name("out.jsonl.manifest.json").read_text())
    assert manifest["options"]["schema"]["names"] == explain_files.names
    src = tmp_path / "a.csv"
    shutil.copy(explain_files.csv, src)
    out = tmp_path / "o.jsonl"
    explain_file(
        "tabular", FACTORY, src, out, threshold=0.3, k=2, batch_size=16, quiet=True, **explain_files.model_options()
    )
    assert json.loads(out.with_name("o.jsonl.manifest.json").read_text())["options"]["schema"] == {
        "names": explain_files.names,
        "source": "the input's numeric columns (no schema)",
    }
    out.with_name("o.jsonl.manifest.json").write_text(
        out.with_name("o.jsonl.manifest.json").read_text().replace('"complete": true', '"complete": false')
    )
    with pytest.raises(ValueError, match=r"resume: the options differ .*schema"):
        explain_file(
            "tabular",
            FACTORY,
            src,
            out,
            threshold=0.3,
            k=2,
            batch_size=16,
            quiet=True,
            resume=True,
            schema=explain_files.names[::-1],
            **explain_files.model_options(),
        )


def test_schema_recorded_beside_the_weights_is_read(explain_files, tmp_path):
    weights = tmp_path / "ae.safetensors"
    shutil.copy(explain_files.weights, weights)
    options = {"model_args": explain_files.model_options()["model_args"], "weights": weights}
    plain = tmp_path / "plain.jsonl"
    explain_file(
        "tabular",
        FACTORY,
        explain_files.csv,
        plain,
        threshold=0.3,
        k=2,
        id_column="event",
        batch_size=16,
        quiet=True,
        **options,
    )
    path = FeatureSchema.from_columns(explain_files.names).save_beside(weights)
    assert path.name == "ae.safetensors.schema.json"
    src = _shuffled_csv(explain_files, tmp_path / "s.csv", ["event", "f5", "f4", "f3", "f2", "f1", "f0"])
    out = tmp_path / "out.jsonl"
    summary = explain_file(
        "tabular", FACTORY, src, out, threshold=0.3, k=2, id_column="event", batch_size=16, quiet=True, **options
    )
    assert summary.schema == str(path) and summary.extra_columns == ()
    _same_records(_records(out), _records(plain))


def test_cli_schema_file_and_strict_columns(explain_files, tmp_path, capsys):
    schema = FeatureSchema.from_columns(explain_files.names).save(tmp_path / "schema.json")
    src = _shuffled_csv(explain_files, tmp_path / "s.csv", ["f1", "f0", "event", "f2", "f3", "f5", "f4"])
    base = [
        "explain",
        "tabular",
        "--model",
        FACTORY,
        "--model-args",
        json.dumps(explain_files.model_options()["model_args"]),
        "--weights",
        str(explain_files.weights),
        "--threshold",
        "0.3",
        "--k",
        "2",
        "--id-column",
        "event",
        "--schema",
        str(schema),
        "--strict-columns",
        "--quiet",
        "--json",
    ]
    out = tmp_path / "o.jsonl"
    assert main([*base, "--input", str(src), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["columns"] == explain_files.names and summary["extra_columns"] == []
    assert main([*base, "--input", str(explain_files.csv), "--output", str(tmp_path / "p.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "strict_columns: input has column ['host'] not in the detector's schema" in err
    assert not (tmp_path / "p.jsonl").exists()


# -- the Python API ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(explain_files):
    names = explain_files.names
    normal = pd.DataFrame(explain_files.normal, columns=names)
    alerts = pd.DataFrame(explain_files.anomalies[:12], columns=names, index=[f"alert-{i}" for i in range(12)])
    return normal, alerts


@pytest.fixture(scope="module")
def interp(explain_files, frames):
    return deepaid_sdk.create("tabular", model=explain_files.model, normal=frames[0], k=2)


def test_shuffled_dataframe_and_arrow_columns_give_equal_results(interp, frames, explain_files):
    _, alerts = frames
    assert interp.schema == FeatureSchema(tuple(explain_files.names))
    expected = interp.interpret_batch(alerts)
    for shuffled in (
        alerts[["f4", "f1", "f5", "f0", "f3", "f2"]],
        pa.Table.from_pandas(alerts[["f2", "f0", "f5", "f1", "f4", "f3"]], preserve_index=False),
    ):
        got = interp.interpret_batch(shuffled)
        np.testing.assert_allclose(got.references, expected.references, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(got.reference_scores, expected.reference_scores, rtol=1e-6)
        assert got.changed_names() == expected.changed_names()
        assert got.feature_names == tuple(explain_files.names)
    one = interp.interpret(alerts.iloc[3][["f5", "f4", "f3", "f2", "f1", "f0"]])
    np.testing.assert_allclose(one.reference, expected.references[3], rtol=1e-6, atol=1e-9)


def test_normal_dataframe_in_another_order_calibrates_the_same(explain_files, frames, interp):
    normal, alerts = frames
    other = deepaid_sdk.create(
        "tabular", model=explain_files.model, normal=normal[normal.columns[::-1]], k=2, schema=explain_files.names
    )
    assert other.adapter.threshold == pytest.approx(interp.adapter.threshold, rel=1e-6)
    np.testing.assert_allclose(
        other.interpret_batch(alerts).reference_scores, interp.interpret_batch(alerts).reference_scores, rtol=1e-6
    )


def test_extra_dataframe_columns_warn_once_naming_them(interp, frames):
    _, alerts = frames
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interp.interpret_batch(alerts.assign(label=1.0))
    assert [str(w.message) for w in caught if w.category is ExtraColumnsWarning] == [
        "X: ignored column ['label'] not in the detector's schema (normal's columns); "
        "pass strict_columns=True to refuse them"
    ]
    assert caught[0].filename == __file__


def test_to_pandas_keeps_the_dataframe_index(interp, frames):
    _, alerts = frames
    table = interp.interpret_batch(alerts.iloc[::-1]).to_pandas()
    assert list(table.index) == [f"alert-{i}" for i in range(11, -1, -1)]
    assert list(interp.interpret_batch(alerts.to_numpy()).to_pandas().index) == list(range(12))


def test_blackbox_takes_a_normal_dataframe_and_matches_by_name(frames):
    from sklearn.ensemble import IsolationForest

    normal, alerts = frames
    forest = IsolationForest(n_estimators=30, random_state=0).fit(normal)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        interp = deepaid_sdk.create("gradient", model=forest, normal=normal[normal.columns[::-1]], k=2)
        assert interp.schema.names == tuple(normal.columns)  # the estimator's feature_names_in_
        expected = interp.interpret_batch(alerts)
        got = interp.interpret_batch(alerts[alerts.columns[::-1]])
    np.testing.assert_allclose(got.references, expected.references, rtol=1e-6, atol=1e-9)
    assert list(got.to_pandas().index) == list(alerts.index)


def test_schema_json_round_trip_and_match(tmp_path):
    schema = FeatureSchema(("a", "b", "c"), "test")
    assert FeatureSchema.load(schema.save(tmp_path / "s.json")) == schema
    match = schema.match(["c", "x", "a"])
    assert (match.order, match.missing, match.extra) == (("a", "c"), ("b",), ("x",))
