"""Bad model inputs, through the CLI and the Python API: one clear message naming the argument, no output."""

import json
import pathlib
import re

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import IsolationForest

from deepaid_sdk.cli import main
from deepaid_sdk.explain import explain_file
from deepaid_sdk.explain.models import ModelLoadError, load_model

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-models")
    forest = IsolationForest(n_estimators=10, random_state=0).fit(np.random.default_rng(0).normal(size=(200, 6)))
    sio.dump(forest, root / "forest.skops")
    joblib.dump(forest, root / "forest.joblib")
    (root / "junk.onnx").write_bytes(b"\x08\x07 not onnx")
    (root / "junk.skops").write_bytes(b"not a zip")
    sio.dump({"p": pathlib.PurePosixPath("x")}, root / "odd.skops")
    (root / "text_factory.py").write_text("def make():\n    return 'a string'\n")
    return root, forest


def _cli_cases(root, files):
    model_args = json.dumps({"width": 6, "hidden": 12, "bottleneck": 3})
    return {
        "pickled estimator without --allow-pickle": (
            ["--model", str(root / "forest.joblib")],
            r"model: .*forest.joblib' is a pickled file .*--allow-pickle",
        ),
        "missing --weights file": (
            ["--model", FACTORY, "--model-args", model_args, "--weights", str(root / "none.safetensors")],
            r"weights: no such file .*none.safetensors",
        ),
        "--weights beside a whole estimator file": (
            ["--model", str(root / "forest.skops"), "--weights", str(files.weights)],
            r"weights: .*forest.skops' is a whole model",
        ),
        "an .onnx file that is not ONNX": (
            ["--model", str(root / "junk.onnx")],
            r"model: tried onnxruntime.InferenceSession\(.*junk.onnx'\)",
        ),
        "a skops file with untrusted types": (
            ["--model", str(root / "odd.skops")],
            r"model: .*odd.skops' holds types that are not scikit-learn",
        ),
        "--model-args beside a model file": (
            ["--model", str(root / "forest.skops"), "--model-args", model_args],
            r"model_args: only apply to --model package.module:factory",
        ),
    }


CLI_CASES = [
    "pickled estimator without --allow-pickle",
    "missing --weights file",
    "--weights beside a whole estimator file",
    "an .onnx file that is not ONNX",
    "a skops file with untrusted types",
    "--model-args beside a model file",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_bad_model(case, bad_models, explain_files, tmp_path, capsys):
    root, _ = bad_models
    args, message = _cli_cases(root, explain_files)[case]
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "explain",
            "tabular",
            *args,
            "--normal",
            str(explain_files.normal_csv),
            "--input",
            str(explain_files.csv),
            "--output",
            str(out),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err

    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, nothing left half-done


def _api_cases(root, forest, files):
    return {
        "an object that is no detector": (
            lambda: load_model(object()),
            TypeError,
            r"model: expected an nn.Module, a fitted estimator",
        ),
        "an unknown ONNX runner": (
            lambda: load_model(root / "junk.onnx", onnx="tensorflow"),
            ValueError,
            r"onnx: expected one of \('onnxruntime', 'onnx2torch'\); got 'tensorflow'",
        ),
        "weights beside a fitted estimator": (
            lambda: load_model(forest, weights=files.weights),
            ModelLoadError,
            r"weights: a fitted IsolationForest has no torch weights",
        ),
        "a factory returning no detector": (
            lambda: load_model("text_factory:make"),
            ModelLoadError,
            r"model: text_factory:make returned a str, not an nn.Module, a fitted "
            r"estimator",
        ),
        "a .skops file that is not skops": (
            lambda: load_model(root / "junk.skops"),
            ModelLoadError,
            r"model: .*junk.skops' is not a skops file",
        ),
        "a pickle without allow_pickle": (
            lambda: load_model(root / "forest.joblib"),
            ModelLoadError,
            r"model: .*pickled file .*pass --allow-pickle only if you trust it",
        ),
    }


API_CASES = [
    "an object that is no detector",
    "an unknown ONNX runner",
    "weights beside a fitted estimator",
    "a factory returning no detector",
    "a .skops file that is not skops",
    "a pickle without allow_pickle",
]


@pytest.mark.parametrize("case", API_CASES)
def test_api_bad_model(case, bad_models, explain_files, monkeypatch):
    root, forest = bad_models
    monkeypatch.syspath_prepend(str(root))
    call, error, message = _api_cases(root, forest, explain_files)[case]
    with pytest.raises(error, match=message):
        call()


def test_api_missing_weights_writes_nothing(explain_files, tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(ModelLoadError, match=r"weights: no such file .*gone.safetensors"):
        explain_file(
            "tabular",
            FACTORY,
            explain_files.csv,
            out,
            model_args={"width": 6, "hidden": 12, "bottleneck": 3},
            weights=tmp_path / "gone.safetensors",
            normal=explain_files.normal_csv,
            quiet=True,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == []
