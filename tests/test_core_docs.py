"""What a user can find out without reading the source: create's options, every preset's options, the demos."""

import subprocess
import sys

import pytest

import deepaid_sdk


def test_help_of_create_lists_the_options_and_how_to_pass_a_constraint():
    doc = deepaid_sdk.create.__doc__
    for option in ("threshold", "normal=", "k", "lam", "box=(low, high)", "frozen=", "distance", "search_options"):
        assert option in doc, option
    assert 'constraints=[("box", {"low": 0, "high": 1})]' in doc
    assert "deepaid plugins" in doc and "preset_factory" in doc


def test_every_preset_lists_its_options():
    reg = deepaid_sdk.registry()
    out = subprocess.run(
        [sys.executable, "-m", "deepaid_sdk.cli", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    for name in reg.names("interpreters"):
        options = deepaid_sdk.preset_options(name)
        assert options, name
        line = next(li for li in out.splitlines() if li.strip().startswith(f"{name}:"))
        listing = out.splitlines()[out.splitlines().index(line) + 1]
        assert all(f"{key}=" in listing for key in options), (name, listing)
        assert deepaid_sdk.preset_factory(name).__doc__, name
    assert deepaid_sdk.preset_options("tabular")["box_margin"] == "0.1"
    for name in reg.names("explain_inputs"):  # an input's own --option keys are listed under its preset
        reader = reg.get("explain_inputs", name).factory
        line = next(
            li
            for li in out.splitlines()
            if li.strip().startswith("deepaid explain input:")
            and out.splitlines()[out.splitlines().index(li) - 2].strip().startswith(f"{name}:")
        )
        assert all(key in line for key in reader.options) and reader.options, (name, line)


def test_a_constraint_needing_options_says_how_to_pass_them():
    with pytest.raises(
        TypeError,
        match=r"constraint 'box': missing a required argument: 'low'; it takes low, high, changed_only; "
        r"pass options as a \(name, options\) pair",
    ):
        deepaid_sdk.create(
            "gradient", model=lambda x: x.sum(dim=1), threshold=1.0, sample_shape=(3,), constraints=["box"]
        )
    with pytest.raises(deepaid_sdk.RegistryError, match="unknown constraint 'monotone'; registered: box"):
        deepaid_sdk.create(
            "gradient", model=lambda x: x.sum(dim=1), threshold=1.0, sample_shape=(3,), constraints=["monotone"]
        )
    interp = deepaid_sdk.create(
        "gradient",
        model=lambda x: x.sum(dim=1),
        threshold=1.0,
        sample_shape=(3,),
        constraints=[("box", {"low": 0.0, "high": 1.0})],
    )
    assert [c.name for c in interp.constraints][-1] == "box"


def test_demo_help_lists_every_demo():
    out = subprocess.run(
        [sys.executable, "-m", "deepaid_sdk.cli", "demo", "--help"], capture_output=True, text=True, check=True
    ).stdout
    names = deepaid_sdk.registry().names("demos")
    assert len(names) >= 5
    for name in names:
        assert name in out, name
