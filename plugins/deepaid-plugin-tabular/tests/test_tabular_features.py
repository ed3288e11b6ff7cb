"""Feature metadata (lists, CSV header) and its constraints in model units through a scaler."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepaid_plugin_tabular import FeatureSpec, GridConstraint, model_constraints, read_csv
from deepaid_sdk.constraints import BoxConstraint, FrozenConstraint, IntegerConstraint
from deepaid_sdk.scaling import MinMaxScaler, StandardScaler
from deepaid_sdk.testing import check_constraint


def test_from_lists_takes_names_indices_masks_and_maps():
    spec = FeatureSpec.from_lists(
        ["a", "b", "c"], low=0, high={"b": 5.0}, integer=["a", 2], frozen=[False, True, False]
    )
    assert spec.width == 3
    assert spec.low.tolist() == [0, 0, 0]
    assert spec.high.tolist() == [np.inf, 5.0, np.inf]
    assert spec.integer.tolist() == [True, False, True]
    assert spec.frozen.tolist() == [False, True, False]
    assert spec.to_dict()["integer"] == ["a", "c"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"names": ["a", "a"]}, "duplicate"),
        ({"names": ["a", ""]}, "names"),
        ({"names": ["a", "b"], "low": [1, 2, 3]}, "low: expected 2 values"),
        ({"names": ["a", "b"], "low": [np.nan, 0]}, "NaN"),
        ({"names": ["a", "b"], "low": 2, "high": 1}, "low > high"),
        ({"names": ["a", "b"], "integer": ["z"]}, "unknown feature 'z'"),
        ({"names": ["a", "b"], "frozen": [5]}, "outside the 2 features"),
        ({"names": ["a", "b"], "frozen": [True]}, "bool mask needs 2"),
    ],
)
def test_metadata_errors_name_the_argument(kwargs, match):
    names = kwargs.pop("names")
    with pytest.raises((ValueError, TypeError), match=match):
        FeatureSpec.from_lists(names, **kwargs)


def test_names_from_a_csv_header(tmp_path):
    path = tmp_path / "flows.csv"
    path.write_text("bytes, packets ,duration\n10,2,0.5\n")
    spec = FeatureSpec.from_csv(path, integer=["bytes", "packets"])
    assert spec.names == ("bytes", "packets", "duration")
    assert spec.integer.tolist() == [True, True, False]
    assert FeatureSpec.from_csv(io.StringIO("x;y\n"), delimiter=";").names == ("x", "y")
    with pytest.raises(ValueError, match="header"):
        FeatureSpec.from_csv(io.StringIO(""))
    with pytest.raises(ValueError, match="model takes 4"):
        spec.check_width(4)


def test_read_csv_rows_and_integer_columns():
    spec, data = read_csv(io.StringIO("n,ratio\n1,0.5\n3,0.25\n"))
    assert data.tolist() == [[1, 0.5], [3, 0.25]]
    assert spec.integer.tolist() == [True, False]
    with pytest.raises(ValueError, match="line 3 has 1 values"):
        read_csv(io.StringIO("n,ratio\n1,2\n3\n"))
    with pytest.raises(ValueError, match="not a number"):
        read_csv(io.StringIO("n\nabc\n"))


def test_grid_constraint_conforms():
    check_constraint(GridConstraint([0, 2], origin=[0.1, -0.2], step=[0.25, 0.003]), sample_shape=(4,))
    with pytest.raises(ValueError, match="step"):
        GridConstraint([0], step=0.0)
    with pytest.raises(ValueError, match="listed twice"):
        GridConstraint([1, 1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3), st.floats(1e-4, 10.0), st.floats(-5.0, 5.0))
def test_grid_projection_lands_on_the_grid_and_is_idempotent(values, step, origin):
    c = GridConstraint([0, 1, 2], origin=origin, step=step)
    x = torch.tensor([values], dtype=torch.float64)
    p = c.project(x, x)
    assert bool(c.satisfied(p, x).all())
    assert torch.allclose(c.project(p, x), p)
    assert ((p - x).abs() <= step / 2 + 1e-9).all()


def test_constraints_in_model_units_follow_the_scaler():
    rng = np.random.default_rng(0)
    raw = np.column_stack([rng.integers(0, 5000, 200), rng.uniform(0, 3, 200), rng.integers(1, 9, 200)]).astype(float)
    spec = FeatureSpec.from_lists(
        ["bytes", "ms", "flag"], low=[0, 0, 1], high=[np.inf, np.inf, 8], integer=["bytes", "flag"], frozen=["flag"]
    )
    scaler = MinMaxScaler().fit(raw)
    box, grid, frozen = model_constraints(spec, scaler)
    assert isinstance(box, BoxConstraint) and isinstance(grid, GridConstraint) and isinstance(frozen, FrozenConstraint)
    assert np.allclose(box.low.numpy(), scaler.transform(np.array([[0.0, 0.0, 1.0]]))[0])
    assert np.isinf(box.high.numpy()[:2]).all()
    # A projected reference is a whole number of bytes in original units.
    x = torch.as_tensor(scaler.transform(np.array([[1234.4, 1.5, 3.0]])), dtype=torch.float32)
    back = scaler.inverse_transform(grid.project(x, x).double().numpy())[0]
    assert back[0] == pytest.approx(1234.0, abs=1e-2)
    assert back[1] == pytest.approx(1.5, abs=1e-5)
    assert isinstance(model_constraints(spec)[1], IntegerConstraint)  # no scaler: plain integers


def test_scaler_must_be_affine_and_increasing():
    class Squared:
        def transform(self, x):
            return np.asarray(x) ** 2

        inverse_transform = transform

    spec = FeatureSpec.from_lists(["a", "b"], integer=["a"])
    with pytest.raises(ValueError, match="affine"):
        model_constraints(spec, Squared())
    with pytest.raises(ValueError, match="fitted on data of the model's width"):
        model_constraints(spec, StandardScaler().fit(np.ones((3, 5))))
    with pytest.raises(TypeError, match="scaler"):
        model_constraints(spec, object())
