"""Detectors that are not torch modules through the file job: skops, ONNX Runtime, joblib, fitted objects."""

import json
import pathlib
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from skl2onnx import to_onnx
from sklearn.ensemble import IsolationForest

from deepaid_sdk.cli import main
from deepaid_sdk.explain import explain_file
from deepaid_sdk.explain.models import ModelLoadError, load_model

NAMES = [f"f{i}" for i in range(6)]
PLANTED = {"f1", "f3"}


class ForestFiles:
    """An IsolationForest on 6 normal features, saved three ways, with alert rows that push f1 and f3."""

    def __init__(self, root: pathlib.Path) -> None:
        rng = np.random.default_rng(0)
        self.normal = rng.normal(size=(1000, 6)).astype(np.float32)
        self.forest = IsolationForest(n_estimators=100, contamination=0.01, random_state=0).fit(self.normal)
        alerts = self.normal[:12].copy()
        alerts[:, [1, 3]] += 6.0
        self.normal_csv, self.alerts_csv = root / "normal.csv", root / "alerts.csv"
        pd.DataFrame(self.normal, columns=NAMES).to_csv(self.normal_csv, index=False)
        frame = pd.DataFrame(alerts, columns=NAMES)
        frame.insert(0, "alert_id", [f"a{i}" for i in range(len(alerts))])
        frame.to_csv(self.alerts_csv, index=False)
        self.skops, self.joblib, self.onnx = root / "forest.skops", root / "forest.joblib", root / "forest.onnx"
        sio.dump(self.forest, self.skops)
        joblib.dump(self.forest, self.joblib)
        onx = to_onnx(self.forest, self.normal[:1], target_opset={"": 17, "ai.onnx.ml": 3})
        self.onnx.write_bytes(onx.SerializeToString())


@pytest.fixture(scope="module")
def forest_files(tmp_path_factory):
    return ForestFiles(tmp_path_factory.mktemp("forest"))


def _cli(model, files, out, *extra):
    return main(
        [
            "explain",
            "tabular",
            "--model",
            str(model),
            "--normal",
            str(files.normal_csv),
            "--input",
            str(files.alerts_csv),
            "--id-column",
            "alert_id",
            "--output",
            str(out),
            "--k",
            "3",
            "--quiet",
            "--json",
            *extra,
        ]
    )


def _records(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


@pytest.mark.parametrize("kind", ["skops", "onnx", "joblib"])
def test_a_saved_estimator_runs_through_deepaid_explain(kind, forest_files, tmp_path, capsys):
    extra = ["--allow-pickle"] if kind == "joblib" else []
    out = tmp_path / "out.jsonl"
    assert _cli(getattr(forest_files, kind), forest_files, out, *extra) == 0
    summary = json.loads(capsys.readouterr().out)
    records = _records(out)
    alerts = [r for r in records if r["alert"]]
    assert len(records) == 12 and len(alerts) >= 10 and summary["alerts"] == len(alerts)
    assert summary["flipped"] == sum(r["flipped"] for r in alerts) >= len(alerts) - 1
    named = [set(r["changed"]) & PLANTED for r in alerts]
    assert sum(len(n) == 2 for n in named) >= len(alerts) - 1, [r["changed"] for r in alerts]


def test_the_three_files_explain_alike(forest_files, tmp_path, capsys):
    """skops and joblib hold the same forest; skl2onnx's float32 trees agree with it on which rows alert."""
    runs = {}
    for kind in ("skops", "joblib", "onnx"):
        out = tmp_path / f"{kind}.jsonl"
        assert _cli(getattr(forest_files, kind), forest_files, out, "--allow-pickle") == 0
        runs[kind] = _records(out)
    capsys.readouterr()
    assert [r["changed"] for r in runs["skops"]] == [r["changed"] for r in runs["joblib"]]
    assert [r["alert"] for r in runs["skops"]] == [r["alert"] for r in runs["onnx"]]


def test_a_pickled_estimator_is_refused_without_allow_pickle(forest_files, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert _cli(forest_files.joblib, forest_files, out) == 2
    err = capsys.readouterr().err
    assert "model:" in err and "pickled file" in err and "--allow-pickle" in err and "skops" in err
    assert not out.exists()


def test_a_skops_file_with_untrusted_types_is_refused_by_name(tmp_path):
    path = tmp_path / "odd.skops"
    sio.dump({"scaler": pathlib.PurePosixPath("x")}, path)  # a type from outside sklearn/pyod/numpy/scipy
    with pytest.raises(
        ModelLoadError,
        match=r"model: .*odd.skops' holds types that are not scikit-learn.*"
        r"pathlib.PurePosixPath.*--allow-pickle",
    ):
        load_model(path)


def test_explain_file_takes_the_fitted_estimator_and_a_factory_returning_one(forest_files, tmp_path, monkeypatch):
    out = tmp_path / "obj.jsonl"
    by_object = explain_file(
        "tabular",
        forest_files.forest,
        forest_files.alerts_csv,
        out,
        k=3,
        normal=forest_files.normal_csv,
        id_column="alert_id",
        quiet=True,
    )
    module = tmp_path / "my_detectors.py"
    module.write_text(
        "import skops.io as sio\n"
        f"def forest():\n    return sio.load({str(forest_files.skops)!r}, "
        "trusted=sio.get_untrusted_types(file=" + repr(str(forest_files.skops)) + "))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_detectors", None)
    out2 = tmp_path / "factory.jsonl"
    by_factory = explain_file(
        "tabular",
        "my_detectors:forest",
        forest_files.alerts_csv,
        out2,
        k=3,
        normal=forest_files.normal_csv,
        id_column="alert_id",
        quiet=True,
    )
    assert by_object.alerts == by_factory.alerts >= 10
    assert [r["changed"] for r in _records(out)] == [r["changed"] for r in _records(out2)]
    with pytest.raises(
        ModelLoadError,
        match=r"weights: my_detectors:forest returned a fitted IsolationForest, "
        r"which has no torch weights; leave out --weights",
    ):
        load_model("my_detectors:forest", weights=forest_files.skops)


def test_an_estimator_fitted_on_a_dataframe_warns_about_feature_names_not_once(forest_files, tmp_path):
    named = IsolationForest(n_estimators=20, random_state=0).fit(pd.DataFrame(forest_files.normal, columns=NAMES))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain_file(
            "tabular",
            named,
            forest_files.alerts_csv,
            tmp_path / "o.jsonl",
            k=3,
            normal=forest_files.normal_csv,
            id_column="alert_id",
            quiet=True,
        )
    assert not [w for w in caught if "valid feature names" in str(w.message)]


def test_a_missing_weights_file_is_one_line_naming_weights(tmp_path, capsys, explain_files):
    args = [
        "explain",
        "tabular",
        "--model",
        "deepaid_sdk.bench.synthetic:mlp_autoencoder",
        "--model-args",
        json.dumps(explain_files.model_options()["model_args"]),
        "--weights",
        str(tmp_path / "nope.safetensors"),
        "--normal",
        str(explain_files.normal_csv),
        "--input",
        str(explain_files.csv),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--quiet",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights: no such file" in err and "nope.safetensors" in err
    assert "Traceback" not in err and not (tmp_path / "o.jsonl").exists()
