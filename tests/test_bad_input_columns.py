"""Bad inputs about columns and schemas: each a clear error naming the argument or column, nothing written.

CLI cases run ``deepaid explain`` (``deepaid_sdk.cli.main``): exit status 2, one line on stderr, no
output, manifest or parts left. API cases call ``create`` / ``interpret_batch`` / ``interpret`` /
``explain_file`` and check the message and that neither the caller's data nor any output file changed.
"""

import json
import re
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import deepaid_sdk
from deepaid_sdk import FeatureSchema, explain_file
from deepaid_sdk.cli import main

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
NAMES = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def files(explain_files, tmp_path_factory):
    """Inputs with columns missing, schema files good and bad, weights with a recorded schema beside them."""
    root = tmp_path_factory.mktemp("badcols")
    t = explain_files.table
    pcsv.write_csv(t.drop(["f2"]), root / "no_f2.csv")
    pcsv.write_csv(t.drop(["f1", "f4"]), root / "no_f1_f4.csv")
    pcsv.write_csv(
        pa.table({n: explain_files.normal[:, i] for i, n in enumerate(NAMES) if n != "f3"}), root / "normal_no_f3.csv"
    )
    FeatureSchema(tuple(NAMES)).save(root / "schema.json")
    FeatureSchema((*NAMES, "host")).save(root / "schema_host.json")
    (root / "not_json.json").write_text("f0,f1,f2\n")
    (root / "no_names.json").write_text(json.dumps({"columns": NAMES}))
    (root / "dup.json").write_text(json.dumps({"names": ["f0", "f1", "f1"]}))
    (root / "weights").mkdir()
    shutil.copy(explain_files.weights, root / "weights" / "ae.safetensors")
    FeatureSchema((*NAMES[:5], "f9")).save_beside(root / "weights" / "ae.safetensors")
    return root


def _cli_base(explain_files, weights=None):
    return explain_files.cli_args(input=False, normal=False, weights=weights)


# (case, extra arguments, input file under `files` (None: the good alerts), message regex)
CLI_CASES = [
    (
        "input lacks a column of --normal",
        ["--normal", "{normal}"],
        "no_f2.csv",
        r"input: missing column \['f2'\] of the detector's schema \(--normal .*normal\.csv",
    ),
    ("input lacks two columns", ["--normal", "{normal}"], "no_f1_f4.csv", r"input: missing columns \['f1', 'f4'\]"),
    (
        "--strict-columns with an extra column",
        ["--normal", "{normal}", "--strict-columns"],
        None,
        r"strict_columns: input has column \['host'\] not in the detector's schema",
    ),
    (
        "--schema file missing",
        ["--threshold", "0.3", "--schema", "{root}/nope.json"],
        None,
        r"schema: no such schema file .*nope\.json",
    ),
    (
        "--schema not JSON",
        ["--threshold", "0.3", "--schema", "{root}/not_json.json"],
        None,
        r"schema: cannot read the schema file .*not_json\.json.* as JSON",
    ),
    (
        "--schema without names",
        ["--threshold", "0.3", "--schema", "{root}/no_names.json"],
        None,
        r"schema: expected a JSON object with a list 'names'",
    ),
    (
        "--schema with a repeated name",
        ["--threshold", "0.3", "--schema", "{root}/dup.json"],
        None,
        r"schema: bad schema file .*dup\.json.*repeated: \['f1'\]",
    ),
    (
        "--columns leaves a schema column out",
        ["--threshold", "0.3", "--schema", "{root}/schema.json", "--columns", "f0", "f1", "f2", "f3", "f4"],
        None,
        r"columns: expected the detector's schema .*left out: \['f5'\]",
    ),
    (
        "--columns not in --normal",
        ["--normal", "{normal}", "--columns", "f0", "f1", "g7"],
        None,
        r"columns: not in the normal rows \(--normal .*\): \['g7'\]",
    ),
    (
        "--normal lacks a column of --schema",
        ["--normal", "{root}/normal_no_f3.csv", "--schema", "{root}/schema.json"],
        None,
        r"normal: missing column \['f3'\] of the detector's schema \(.*schema\.json",
    ),
    ("--normal file missing", ["--normal", "{root}/nope.csv"], None, r"normal: no such file .*nope\.csv"),
    (
        "schema column not numeric in the input",
        ["--threshold", "0.3", "--schema", "{root}/schema_host.json"],
        None,
        r"columns: not numeric \(nor lists of integers\): \['host'\]",
    ),
    (
        "sidecar schema names a column the input lacks",
        ["--threshold", "0.3", "--weights", "{root}/weights/ae.safetensors"],
        None,
        r"input: missing column \['f9'\] of the detector's schema \(.*ae\.safetensors\.schema\.json",
    ),
]


@pytest.mark.parametrize("case, extra, src, match", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_columns(case, extra, src, match, files, explain_files, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    fill = {"root": str(files), "normal": str(explain_files.normal_csv)}
    args = [
        *_cli_base(explain_files),
        *[a.format(**fill) for a in extra],
        "--input",
        str(files / src if src else explain_files.csv),
        "--output",
        str(out),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("deepaid explain: error: "), err
    assert re.search(match, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, manifest or parts


# -- the Python API ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(explain_files):
    normal = pd.DataFrame(explain_files.normal, columns=NAMES)
    alerts = pd.DataFrame(explain_files.anomalies[:4], columns=NAMES, index=[f"a{i}" for i in range(4)])
    return normal, alerts


@pytest.fixture(scope="module")
def interp(explain_files, frames):
    return deepaid_sdk.create("tabular", model=explain_files.model, normal=frames[0], k=2)


def _call_api(case, interp, frames, explain_files, files, out):
    normal, alerts = frames
    model = explain_files.model
    calls = {
        "DataFrame lacks a column": lambda: interp.interpret_batch(alerts.drop(columns=["f2"])),
        "Arrow table lacks two columns": lambda: interp.interpret_batch(
            pa.Table.from_pandas(alerts.drop(columns=["f0", "f5"]), preserve_index=False)
        ),
        "strict_columns with an extra column": lambda: interp.interpret_batch(
            alerts.assign(label=1.0), strict_columns=True
        ),
        "Series lacks a column": lambda: interp.interpret(alerts.iloc[0].drop("f4")),
        "interpret given two rows": lambda: interp.interpret(alerts.iloc[:2]),
        "normal DataFrame lacks a schema column": lambda: deepaid_sdk.create(
            "tabular", model=model, normal=normal.drop(columns=["f1"]), schema=NAMES
        ),
        "schema with a repeated name": lambda: deepaid_sdk.create(
            "tabular", model=model, threshold=0.3, schema=["f0", "f0", "f1", "f2", "f3", "f4"]
        ),
        "schema of the wrong width": lambda: deepaid_sdk.create(
            "tabular", model=model, threshold=0.3, schema=NAMES[:5]
        ),
        "schema not names": lambda: deepaid_sdk.create("tabular", model=model, threshold=0.3, schema=5),
        "features names unlike the normal DataFrame": lambda: deepaid_sdk.create(
            "tabular", model=model, normal=normal, features=[*NAMES[:5], "g5"]
        ),
        "explain_file: input lacks a schema column": lambda: explain_file(
            "tabular", model, files / "no_f2.csv", out, threshold=0.3, schema=NAMES, quiet=True
        ),
        "explain_file: strict_columns": lambda: explain_file(
            "tabular", model, explain_files.csv, out, normal=normal, id_column="event", strict_columns=True, quiet=True
        ),
        "explain_file: schema file missing": lambda: explain_file(
            "tabular", model, explain_files.csv, out, threshold=0.3, schema=files / "nope.json", quiet=True
        ),
        "FeatureSchema.load of a file without names": lambda: FeatureSchema.load(files / "no_names.json"),
    }
    return calls[case]()


API_CASES = [
    ("DataFrame lacks a column", ValueError, r"X: missing column \['f2'\] of the detector's schema"),
    ("Arrow table lacks two columns", ValueError, r"X: missing columns \['f0', 'f5'\]"),
    (
        "strict_columns with an extra column",
        ValueError,
        r"strict_columns: X has column \['label'\] not in the detector's schema",
    ),
    ("Series lacks a column", ValueError, r"x: missing column \['f4'\]"),
    ("interpret given two rows", ValueError, r"x: expected one row; got a table of 2 rows \(use interpret_batch\)"),
    ("normal DataFrame lacks a schema column", ValueError, r"normal: missing column \['f1'\] of the detector's"),
    ("schema with a repeated name", ValueError, r"schema: .*repeated: \['f0'\]"),
    ("schema of the wrong width", ValueError, r"schema: 5 column names \(schema\) for a model of 6 features"),
    ("schema not names", TypeError, r"schema: expected a FeatureSchema, a list of column names .*got int"),
    ("features names unlike the normal DataFrame", ValueError, r"normal: missing column \['g5'\] .*\(features"),
    ("explain_file: input lacks a schema column", ValueError, r"input: missing column \['f2'\]"),
    ("explain_file: strict_columns", ValueError, r"strict_columns: input has column \['host'\]"),
    ("explain_file: schema file missing", ValueError, r"schema: no such schema file .*nope\.json"),
    ("FeatureSchema.load of a file without names", ValueError, r"schema: expected a JSON object with a list 'names'"),
]


@pytest.mark.parametrize("case, error, match", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_columns(case, error, match, interp, frames, explain_files, files, tmp_path):
    normal, alerts = frames
    before = (normal.copy(), alerts.copy())
    out = tmp_path / "out.jsonl"
    with pytest.raises(error, match=match):
        _call_api(case, interp, frames, explain_files, files, out)
    pd.testing.assert_frame_equal(normal, before[0])  # the caller's data is untouched
    pd.testing.assert_frame_equal(alerts, before[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
