"""Bad constraint specs, through the CLI (``--option constraints=...``) and ``create``: messages name them."""

import json
import re

import pytest

import deepaid_sdk
from deepaid_sdk.cli import main

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
MODEL_ARGS = {"width": 6, "hidden": 12, "bottleneck": 3}

CLI_CASES = {
    "unknown constraint name": ('constraints=["monotone"]', r"constraints\[0\]: unknown constraint 'monotone'"),
    "options that are not an object": (
        'constraints=[["box", 3]]',
        r"constraints\[0\]: expected options as a dict \(JSON object\) after the "
        r"name 'box'; got int: 3",
    ),
    "an unknown column name": (
        'constraints=[["frozen", {"dims": ["f9"]}]]',
        r"constraints\[0\] 'frozen'.dims\[0\]: no feature named 'f9'; features: \['f0'",
    ),
    "a number where a constraint goes": (
        "constraints=[7]",
        r"constraints\[0\]: expected a Constraint, a registered constraint name or "
        r"a \[name, options\] pair; got int: 7",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_constraint(case, explain_files, tmp_path, capsys):
    option, message = CLI_CASES[case]
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
            str(explain_files.normal_csv),
            "--input",
            str(explain_files.csv),
            "--output",
            str(out),
            "--quiet",
            "--option",
            option,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and re.search(message, err), err
    assert not out.exists()


def _create(**options):
    return deepaid_sdk.create("gradient", model=lambda x: x.sum(dim=1), threshold=1.0, sample_shape=(3,), **options)


API_CASES = {
    "not a list": (dict(constraints=5), TypeError, r"constraints: expected a list of constraints .*got int: 5"),
    "a pair with options that are not a dict": (
        dict(constraints=[("box", [0, 1])]),
        TypeError,
        r"constraints\[0\]: expected options as a dict",
    ),
    "a column name without feature names": (
        dict(constraints=[["frozen", {"dims": ["a"]}]]),
        ValueError,
        r"constraints\[0\] 'frozen'.dims\[0\]: 'a' is a column name, but this "
        r"interpreter knows no feature names",
    ),
    "an unknown column name": (
        dict(feature_names=["a", "b", "c"], frozen=["z"]),
        ValueError,
        r"frozen\[0\]: no feature named 'z'; features: \['a', 'b', 'c'\]",
    ),
    "an unknown constraint": (
        dict(constraints=["monotone"]),
        deepaid_sdk.RegistryError,
        r"constraints\[0\]: unknown constraint 'monotone'",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_bad_constraint(case):
    options, error, message = API_CASES[case]
    with pytest.raises(error, match=message):
        _create(**options)


def test_names_and_pairs_in_every_accepted_form_build_the_same_constraints():
    names = ["a", "b", "c"]
    as_tuple = _create(feature_names=names, constraints=[("frozen", {"dims": ["b"]})])
    as_list = _create(feature_names=names, constraints=[["frozen", {"dims": [1]}]])
    alone = _create(feature_names=names, constraints=["frozen", {"dims": ["b"]}])
    built = [[c.dims.tolist() for c in i.constraints if c.name == "frozen"] for i in (as_tuple, as_list, alone)]
    assert built == [[[1]], [[1]], [[1]]]
