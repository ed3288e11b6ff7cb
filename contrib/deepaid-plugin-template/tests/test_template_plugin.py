"""The template plugin: discovered through its installed entry point and held to the conformance suite."""

import pytest
import torch

import deepaid_sdk
from deepaid_plugin_template import CanberraDistance
from deepaid_sdk.testing import check_distance


def test_canberra_conforms():
    check_distance(CanberraDistance(), sample_shape=(6,))
    check_distance(CanberraDistance(), sample_shape=(2, 3))


def test_canberra_values():
    d = CanberraDistance()
    assert d(torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[3.0, 0.0, 2.0]])).item() == pytest.approx(0.5)


def test_installed_entry_point_is_discovered_and_usable_by_name():
    reg = deepaid_sdk.registry(refresh=True)
    component = reg.get("distances", "canberra")
    assert component.provider == "template"
    assert reg.plugins["template"] == "deepaid-plugin-template"
    interp = deepaid_sdk.create(
        "gradient",
        model=lambda x: x.abs().sum(dim=1),
        threshold=1.0,
        k=1,
        sample_shape=(3,),
        distance="canberra",
        adapter_options={"device": "cpu"},
    )
    assert isinstance(interp.distance, CanberraDistance)
    assert interp.interpret(torch.tensor([0.1, 2.0, 0.1])).changed.tolist() == [1]


# -- the worked Constraint of docs/plugin-authors.md: "these columns may only decrease" --------------------

from deepaid_plugin_template.decrease_only import DecreaseOnlyConstraint  # noqa: E402
from deepaid_sdk.testing import check_constraint  # noqa: E402


def test_decrease_only_conforms_on_vectors_and_windows():
    check_constraint(DecreaseOnlyConstraint(dims=[0, 3]), sample_shape=(6,))
    check_constraint(DecreaseOnlyConstraint(dims=[1, 5]), sample_shape=(2, 3))


def test_decrease_only_caps_at_the_alert_and_leaves_other_features():
    c = DecreaseOnlyConstraint(dims=[0])
    ref, alert = torch.tensor([[5.0, 9.0], [1.0, 9.0]]), torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    assert c.project(ref, alert).tolist() == [[2.0, 9.0], [1.0, 9.0]]
    assert c.satisfied(ref, alert).tolist() == [False, True]
    with pytest.raises(ValueError, match=r"dims: expected a non-empty list"):
        DecreaseOnlyConstraint(dims=[])


def test_decrease_only_is_registered_and_takes_column_names_in_create():
    reg = deepaid_sdk.registry(refresh=True)
    assert reg.get("constraints", "decrease-only").provider == "template"
    interp = deepaid_sdk.create(
        "gradient",
        model=lambda x: x.abs().sum(dim=1),
        threshold=1.0,
        sample_shape=(3,),
        feature_names=["bytes", "packets", "port"],
        constraints=[["decrease-only", {"dims": ["packets"]}]],
    )
    built = [c for c in interp.constraints if c.name == "decrease-only"]
    assert len(built) == 1 and built[0].dims.tolist() == [1]


def _files(root):
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from safetensors.torch import save_file

    from deepaid_sdk.bench.synthetic import manifold_data, train_autoencoder

    torch.manual_seed(0)
    normal, anomalies, _ = manifold_data(256, 30, 6, 2, 2, 0)
    model = train_autoencoder(normal, epochs=12, seed=0, hidden=12, bottleneck=3)
    save_file(model.state_dict(), str(root / "ae.safetensors"))
    names = [f"f{i}" for i in range(6)]
    pcsv.write_csv(
        pa.table({n: np.asarray(anomalies[:, i], dtype=np.float64) for i, n in enumerate(names)}), root / "alerts.csv"
    )
    pcsv.write_csv(
        pa.table({n: np.asarray(normal[:, i], dtype=np.float64) for i, n in enumerate(names)}), root / "normal.csv"
    )


def _explain(root, out, *options):
    import json
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "deepaid_sdk.cli",
        "explain",
        "tabular",
        "--model",
        "deepaid_sdk.bench.synthetic:mlp_autoencoder",
        "--model-args",
        json.dumps({"width": 6, "hidden": 12, "bottleneck": 3}),
        "--weights",
        str(root / "ae.safetensors"),
        "--normal",
        str(root / "normal.csv"),
        "--input",
        str(root / "alerts.csv"),
        "--output",
        str(out),
        "--k",
        "3",
        "--quiet",
        *[arg for o in options for arg in ("--option", o)],
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def _raised(records, name):
    return [
        r["id"]
        for r in records
        for c, a, ref in zip(r["changed"], r["anomaly_values"], r["reference_values"])
        if c == name and ref > a
    ]


def test_decrease_only_from_the_command_line_by_column_name(tmp_path):
    _files(tmp_path)
    free = _explain(tmp_path, tmp_path / "free.jsonl")
    raised = {c for r in free for c, a, ref in zip(r["changed"], r["anomaly_values"], r["reference_values"]) if ref > a}
    assert raised, "the unconstrained references raise some feature (else this test could not fail)"
    names = sorted(raised)
    capped = _explain(
        tmp_path,
        tmp_path / "capped.jsonl",
        'constraints=[["decrease-only", {"dims": ' + str(names).replace("'", '"') + "}]]",
    )
    assert [r["id"] for r in capped] == [r["id"] for r in free]
    assert all(not _raised(capped, name) for name in names)


def test_the_plugin_authors_guide_shows_this_constraint_exactly():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[3]
    page = (root / "docs" / "plugin-authors.md").read_text()
    shown = re.search(r"decrease_only.py, imported by the blocks below.*?-->\n```python\n(.*?)```", page, re.S)
    source = (
        root / "contrib" / "deepaid-plugin-template" / "src" / "deepaid_plugin_template" / "decrease_only.py"
    ).read_text()
    assert shown is not None and shown.group(1) == source


# -- the one line a third party needs: every conformance check on everything the plugin registers ------------

from deepaid_sdk.testing import check_plugin  # noqa: E402


def test_the_plugin_passes_check_plugin():
    check_plugin("template")  # the entry-point name in pyproject.toml; raises listing every failed check
