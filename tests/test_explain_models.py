"""Loading a user's detector for ``deepaid explain``: every format, and pickle refused unless allowed."""

import json

import pyarrow.parquet as pq
import pytest
import torch

from deepaid_sdk import explain_file
from deepaid_sdk.explain import ModelLoadError, load_model
from deepaid_sdk.optional import MissingExtraError

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
ARGS = {"width": 6, "hidden": 12, "bottleneck": 3}


@pytest.fixture(scope="module")
def saved(explain_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    model = explain_files.model
    example = torch.as_tensor(explain_files.anomalies[:4], dtype=torch.float32)
    files = {
        "weights_pt": root / "state.pt",
        "script": root / "model.ts",
        "export": root / "model.pt2",
        "pickle": root / "model.pkl",
    }
    torch.save(model.state_dict(), files["weights_pt"])
    torch.jit.save(torch.jit.script(model), files["script"])
    program = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
    torch.export.save(program, files["export"])
    torch.save(model, files["pickle"])
    return files, example


def _same_outputs(loaded, model, x):
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize("kind", ["safetensors", "state_dict", "torchscript", "export"])
def test_every_model_format_loads_the_same_detector(kind, saved, explain_files):
    files, x = saved
    if kind == "safetensors":
        loaded = load_model(FACTORY, model_args=ARGS, weights=explain_files.weights)
    elif kind == "state_dict":
        loaded = load_model(FACTORY, model_args=ARGS, weights=files["weights_pt"])
    else:
        loaded = load_model(files["script" if kind == "torchscript" else "export"])
    _same_outputs(loaded, explain_files.model, x)
    _same_outputs(loaded, explain_files.model, x[:1])  # any batch size, one row included


@pytest.fixture(scope="module")
def factory_records(explain_files, tmp_path_factory):
    """The records of the same job with the detector built from its factory and weights."""
    out = tmp_path_factory.mktemp("factory") / "o.parquet"
    explain_file(
        "tabular",
        FACTORY,
        explain_files.csv,
        out,
        normal=explain_files.normal_csv,
        model_args=ARGS,
        weights=explain_files.weights,
        id_column="event",
        batch_size=40,
        quiet=True,
    )
    return pq.read_table(out).to_pylist()


@pytest.mark.parametrize("kind", ["script", "export"])
def test_explain_runs_through_whole_model_files(kind, saved, explain_files, factory_records, tmp_path):
    files, _ = saved
    out = tmp_path / "o.parquet"
    summary = explain_file(
        "tabular",
        str(files[kind]),
        explain_files.csv,
        out,
        normal=explain_files.normal_csv,
        id_column="event",
        batch_size=40,
        quiet=True,
    )
    records = pq.read_table(out).to_pylist()
    alerts = [r for r in records if r["alert"]]
    assert summary.rows == len(records) == 40
    assert summary.alerts == len(alerts) >= 15  # 21 of the 40 rows alert on this seeded case
    assert summary.flipped >= summary.alerts - 2
    assert all(len(r["changed"]) >= 1 for r in alerts)
    # The whole-model file is the same detector as factory + weights: the same alerts, explained alike.
    assert [r["id"] for r in alerts] == [r["id"] for r in factory_records if r["alert"]]
    assert [r["changed"] for r in records] == [r["changed"] for r in factory_records]
    for key in ("score", "reference_score"):
        assert [r[key] for r in records] == pytest.approx([r[key] for r in factory_records], rel=1e-5, abs=1e-6)


def test_pickled_module_is_refused_unless_allowed(saved, explain_files):
    files, x = saved
    with pytest.raises(ModelLoadError, match=r"pickled nn.Module.*pass --allow-pickle only if you trust it"):
        load_model(files["pickle"])
    _same_outputs(load_model(files["pickle"], allow_pickle=True), explain_files.model, x)


def test_failures_say_what_was_tried_and_what_to_pass(saved, explain_files, tmp_path):
    files, _ = saved
    with pytest.raises(ModelLoadError, match=r"is a state dict .* pass --model package.module:factory --weights"):
        load_model(files["weights_pt"])
    with pytest.raises(ModelLoadError, match=r"builds an untrained model; pass --weights FILE"):
        load_model(FACTORY, model_args=ARGS)
    with pytest.raises(ModelLoadError, match=r"does not fit .*mlp_autoencoder.*check --model-args"):
        load_model(FACTORY, model_args={**ARGS, "hidden": 7}, weights=explain_files.weights)
    with pytest.raises(ModelLoadError, match=r"tried to import module 'no_such_pkg.models'"):
        load_model("no_such_pkg.models:build", weights=explain_files.weights)
    with pytest.raises(ModelLoadError, match=r"has no attribute 'nope'"):
        load_model("deepaid_sdk.bench.synthetic:nope")
    with pytest.raises(
        ModelLoadError,
        match=r"weights: tried torch.load.*weights_only=True.: the file holds pickled objects, not only tensors",
    ):
        load_model(FACTORY, model_args=ARGS, weights=files["pickle"])
    with pytest.raises(ModelLoadError, match=r"model_args: only apply to --model package.module:factory"):
        load_model(files["script"], model_args=ARGS)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"not TorchScript, a torch.export program or a state dict \(tried "):
        load_model(junk)


def test_onnx_through_onnx2torch_needs_its_extra(tmp_path):
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"\x08\x07")
    with pytest.raises(MissingExtraError, match=r"pip install 'deepaid-sdk\[onnx2torch\]'"):
        load_model(onnx_file, onnx="onnx2torch")


def test_a_broken_onnx_file_is_one_clear_error_from_onnx_runtime(tmp_path):
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"\x08\x07")
    with pytest.raises(ModelLoadError, match=r"model: tried onnxruntime.InferenceSession\(.*model.onnx'\): "):
        load_model(onnx_file)


def test_command_line_pickle_flag(saved, explain_files, tmp_path, capsys):
    from deepaid_sdk.cli import main

    files, _ = saved
    args = [
        "explain",
        "tabular",
        "--model",
        str(files["pickle"]),
        "--input",
        str(explain_files.csv),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--threshold",
        "10",
        "--quiet",
        "--json",
    ]
    assert main(args) == 2 and "--allow-pickle" in capsys.readouterr().err
    assert main([*args, "--allow-pickle"]) == 0
    assert json.loads(capsys.readouterr().out)["alerts"] == 0  # nothing is above a threshold of 10


def test_a_broken_onnx2torch_says_it_needs_the_torchvision_of_this_torch(tmp_path, monkeypatch):
    """onnx2torch imports torchvision; a torchvision built for another torch fails with a RuntimeError."""
    import importlib

    real = importlib.import_module

    def import_module(name, *args, **kwargs):
        if name == "onnx2torch":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", import_module)
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"\x08\x07")
    with pytest.raises(
        ModelLoadError,
        match=r"onnx2torch is installed but failed to import \(RuntimeError: operator "
        r"torchvision::nms does not exist\); it imports torchvision, which must "
        r"be the build made for torch 2\.",
    ):
        load_model(onnx_file, onnx="onnx2torch")
