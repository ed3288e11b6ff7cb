"""Bad input gets a clear error naming the argument, never a traceback from deep inside torch."""

import numpy as np
import pytest
import torch
from torch import nn

import deepaid_sdk
from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ReconstructionAdapter, ScoreAdapter


def interp(k=2, width=4):
    adapter = ScoreAdapter(lambda x: x.abs().sum(dim=1), threshold=1.0, sample_shape=(width,))
    return Interpreter(adapter, GradientSearch(), build_constraints(k=k), L2Distance())


@pytest.mark.parametrize(
    "batch, match",
    [
        (np.zeros((2, 5)), r"X: expected shape \[B, 4\]; got \[2, 5\]"),
        (np.zeros((2, 4, 1)), r"X: expected shape \[B, 4\]"),
        (np.zeros((0, 4)), "X: the batch is empty"),
        (np.array([[0, np.nan, 0, 0], [np.inf, 0, 0, 0]]), r"X: contains NaN or inf \(rows \[0, 1\]\)"),
    ],
)
def test_bad_batches(batch, match):
    with pytest.raises(ValueError, match=match):
        interp().interpret_batch(batch)


def test_bad_types():
    with pytest.raises(TypeError, match="X: expected a numpy array or torch tensor; got str"):
        interp().interpret_batch("abc")
    with pytest.raises(TypeError, match="expected a real numeric array; got dtype torch.bool"):
        interp().interpret_batch(np.zeros((1, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"x: expected one sample of shape \[4\]; got \[1, 4\] \(use interpret_batch"):
        interp().interpret(np.zeros((1, 4)))


def test_k_larger_than_width():
    with pytest.raises(ValueError, match=r"k: expected at most the number of features \(4\); got 5"):
        deepaid_sdk.create(
            "gradient",
            model=lambda x: x.sum(dim=1),
            threshold=1.0,
            k=5,
            sample_shape=(4,),
            adapter_options={"device": "cpu"},
        )


def test_non_finite_threshold_and_bad_search_options():
    with pytest.raises(ValueError, match="threshold: expected a finite number; got inf"):
        ScoreAdapter(lambda x: x.sum(dim=1), threshold=float("inf"))
    with pytest.raises(ValueError, match="threshold: not set"):
        _ = ScoreAdapter(lambda x: x.sum(dim=1)).threshold
    with pytest.raises(ValueError, match="optimizer: expected 'adam' or 'sgd'; got 'lbfgs'"):
        GradientSearch(optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr: expected a number > 0; got 0.0"):
        GradientSearch(lr=0)


def test_model_with_no_parameters_or_split_devices():
    with pytest.raises(ValueError, match="model: the module has no parameters or buffers; pass device="):
        ReconstructionAdapter(nn.Identity(), threshold=1.0)
    assert ReconstructionAdapter(nn.Identity(), threshold=1.0, device="cpu").device.type == "cpu"


def test_model_output_shape_must_match_input():
    adapter = ReconstructionAdapter(nn.Linear(4, 3), threshold=1.0)
    with pytest.raises(
        ValueError, match=r"model: expected output \(the reconstruction\) of shape \[2, 4\]; got \[2, 3\]"
    ):
        adapter.scores(np.zeros((2, 4)))


def test_score_model_must_return_one_score_per_row():
    adapter = ScoreAdapter(lambda x: x, threshold=1.0, device="cpu")
    with pytest.raises(
        ValueError,
        match=r"one score per row, shape \[2\]; got \[2, 4\]; it returns its input.s shape, like an autoencoder: "
        r"use ReconstructionAdapter",
    ):
        adapter.scores(np.ones((2, 4)))


def test_search_arguments_are_typed():
    search = GradientSearch()
    adapter = ScoreAdapter(lambda x: x.abs().sum(dim=1), threshold=1.0)
    with pytest.raises(TypeError, match="adapter: expected a ModelAdapter"):
        search.search(lambda x: x, torch.ones(1, 2))
    with pytest.raises(TypeError, match=r"constraints\[0\]: expected a Constraint; got str"):
        search.search(adapter, torch.ones(1, 2), ["box"])
    with pytest.raises(TypeError, match="distance: expected a Distance"):
        search.search(adapter, torch.ones(1, 2), [], "l2")


def test_unknown_preset_and_missing_model():
    with pytest.raises(deepaid_sdk.RegistryError, match="unknown interpreter 'nope'; registered: .*gradient"):
        deepaid_sdk.create("nope", model=lambda x: x)
    with pytest.raises(ValueError, match="model: create"):
        deepaid_sdk.create("gradient")


def test_calibrate_checks_percentile():
    adapter = ScoreAdapter(lambda x: x.sum(dim=1), device="cpu")
    with pytest.raises(ValueError, match="percentile"):
        adapter.calibrate(np.ones((3, 2)), 0)
    assert adapter.calibrate(np.arange(10.0)[:, None], 50) == pytest.approx(4.5)


def test_integer_inputs_do_not_truncate_fractions():
    class KeyAdapter(ScoreAdapter):
        input_dtype = torch.int64

    adapter = KeyAdapter(lambda x: x.float().sum(dim=1), threshold=1.0, device="cpu")
    assert adapter.prepare(np.array([[1.0, 2.0]])).dtype == torch.int64
    with pytest.raises(TypeError, match=r"x: expected whole numbers \(torch.int64\); got fractional values"):
        adapter.prepare(np.array([[1.5, 2.0]]))
