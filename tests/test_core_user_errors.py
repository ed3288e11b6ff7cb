"""What a new user hits first: each mistake is a clear error (or warning) naming the argument, before torch fails."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import deepaid_sdk
from deepaid_sdk import ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.bench.synthetic import mlp_autoencoder


@pytest.fixture(scope="module")
def ae():
    torch.manual_seed(0)
    return mlp_autoencoder(20).eval()


def _alerts(n=3, width=20):
    return torch.randn(n, width, generator=torch.Generator().manual_seed(1)) * 3


def test_wrong_width_names_the_argument_and_both_widths(ae):
    interp = deepaid_sdk.create("gradient", model=ReconstructionAdapter(ae), threshold=0.1)
    with pytest.raises(ValueError, match=r"X: expected 20 features .* got 25 \(shape \[5, 25\]\)"):
        interp.interpret_batch(_alerts(5, 25))
    with pytest.raises(ValueError, match=r"x: expected 20 features .* got 25 \(shape \[25\]\)"):
        interp.interpret(_alerts(1, 25)[0])
    with pytest.raises(ValueError, match=r"anomalies: expected 20 features .* got 19"):
        interp.search.search(interp.adapter, _alerts(2, 19), interp.constraints, interp.distance)


def test_k_above_the_number_of_features_is_an_error(ae):
    interp = deepaid_sdk.create("gradient", model=ReconstructionAdapter(ae), threshold=0.1, k=25)
    with pytest.raises(ValueError, match=r"k: expected at most the number of features \(20\); got 25"):
        interp.interpret_batch(_alerts())
    with pytest.raises(ValueError, match=r"k: expected at most the number of features \(3\); got 4"):
        deepaid_sdk.create("gradient", model=lambda x: x.abs().sum(dim=1), threshold=1.0, k=4, sample_shape=(3,))


class _NaNOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(20, 20)

    def forward(self, x):
        return self.lin(x) * torch.where(x[:, :1] > 0, float("nan"), 1.0)


def test_nan_scores_are_an_error_naming_the_rows():
    interp = deepaid_sdk.create("gradient", model=ReconstructionAdapter(_NaNOut()), threshold=0.1)
    x = torch.ones(3, 20)
    x[1, 0] = -1.0
    with pytest.raises(ValueError, match=r"model: returned NaN or inf scores for rows \[0, 2\] of X"):
        interp.interpret_batch(x)


def test_a_score_without_autograd_is_an_error():
    def numpy_score(x):
        return torch.as_tensor(np.abs(x.detach().cpu().numpy()).sum(axis=1))

    interp = deepaid_sdk.create("gradient", model=numpy_score, threshold=1.0, sample_shape=(20,), search="gradient")
    with pytest.raises(
        ValueError, match="model: the score of function has no gradient with respect to the input .* search='blackbox'"
    ):
        interp.interpret_batch(_alerts())


def test_a_flat_score_is_an_error_that_suggests_the_blackbox_search():
    def step_score(x):
        return (x.sum(dim=1) > 5).float() + 0.0 * x.sum(dim=1)

    interp = deepaid_sdk.create("gradient", model=step_score, threshold=0.5, sample_shape=(4,), search="gradient")
    with pytest.raises(
        ValueError,
        match=r"search='gradient': the score of function has no gradient .*"
        r"input gradient is zero .* use search='blackbox'",
    ):
        interp.interpret_batch(torch.tensor([[3.0, 3, 3, 3], [0.0, 0, 0, 0], [9.0, 0, 0, 0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a differentiable score gives no warning
        deepaid_sdk.create(
            "gradient", model=lambda x: x.abs().sum(dim=1), threshold=1.0, sample_shape=(4,)
        ).interpret_batch(torch.tensor([[3.0, 0, 0, 0]]))


def test_thresholds_are_numbers_and_never_below_what_the_score_can_reach(ae):
    with pytest.raises(TypeError, match=r"threshold: expected a number; got str: '0.1'"):
        deepaid_sdk.create("gradient", model=ReconstructionAdapter(ae), threshold="0.1")
    with pytest.raises(TypeError, match=r"threshold: expected a number; got str"):
        ReconstructionAdapter(ae, threshold="0.1")
    with pytest.raises(ValueError, match=r"threshold: ReconstructionAdapter scores are never below 0.0 .* got -1.0"):
        ReconstructionAdapter(ae, threshold=-1)
    adapter = ReconstructionAdapter(ae, threshold=0.1)
    with pytest.raises(ValueError, match="never below 0.0"):
        adapter.threshold = -0.5
    assert ScoreAdapter(lambda x: -x.sum(dim=1), threshold=-1.0).threshold == -1.0  # a decision_function


def test_input_errors_name_the_argument_they_came_from(ae):
    adapter = ReconstructionAdapter(ae)
    bad = np.zeros((4, 20))
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"normal: contains NaN or inf \(rows \[2\]\)"):
        adapter.calibrate(bad)
    huge = np.ones((3, 20))
    huge[1, 0] = 1e300  # finite in float64, inf in float32
    interp = deepaid_sdk.create("gradient", model=ReconstructionAdapter(ae), threshold=0.1)
    with pytest.raises(ValueError, match=r"X: values beyond the torch.float32 range .* rows \[1\]"):
        interp.interpret_batch(huge)


def test_a_float64_model_just_works(ae):
    model = mlp_autoencoder(20).double().eval()
    interp = deepaid_sdk.create("tabular", model=model, threshold=0.5, k=3)
    out = interp.interpret_batch(_alerts().double())
    assert out.changed[0].size <= 3 and np.isfinite(out.scores).all()


def test_an_autoencoder_given_as_a_score_model_points_to_the_reconstruction_adapter(ae):
    interp = deepaid_sdk.create("gradient", model=ae, threshold=0.1)
    with pytest.raises(ValueError, match=r"one score per row.*use ReconstructionAdapter\(model\) or create\('tabular'"):
        interp.interpret_batch(_alerts())


def test_a_read_only_array_is_accepted_without_a_torch_warning(ae):
    rows = _alerts(4).numpy()
    rows.flags.writeable = False  # what pandas 3's to_numpy() returns
    interp = deepaid_sdk.create("tabular", model=ae, threshold=0.5, k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = ReconstructionAdapter(ae, threshold=1.0).scores(rows)
        batch = interp.interpret_batch(rows)
    with torch.no_grad():  # the rows' own values are scored: the RMS of the reconstruction error
        x = torch.from_numpy(rows.copy())
        expected = (ae(x) - x).pow(2).mean(dim=1).sqrt()
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)
    again = interp.interpret_batch(rows.copy())  # a writeable copy explains alike
    np.testing.assert_array_equal(batch.references, again.references)
    assert [c.tolist() for c in batch.changed] == [c.tolist() for c in again.changed]
    assert batch.alerts.all() and batch.changed[0].size > 0


def test_an_explicit_device_is_checked_against_the_model():
    model = mlp_autoencoder(20).eval()
    with pytest.raises(ValueError, match=r"device: 'meta' was given but model's parameters are on 'cpu'"):
        ReconstructionAdapter(model, device="meta")
    with pytest.raises(ValueError, match=r"device: 'meta' was given but model's parameters are on 'cpu'"):
        ScoreAdapter(nn.Linear(3, 1), device="meta")
    assert ReconstructionAdapter(model, device="cpu").device == torch.device("cpu")


def test_a_model_moved_after_the_adapter_was_built_is_noticed():
    model = mlp_autoencoder(20).eval()
    interp = deepaid_sdk.create("gradient", model=ReconstructionAdapter(model), threshold=0.1)
    model.to("meta")  # any other device: the adapter still thinks cpu
    with pytest.raises(ValueError, match=r"model: its parameters are on 'meta' but the adapter was built for 'cpu'"):
        interp.interpret_batch(_alerts())
    with pytest.raises(ValueError, match="the model was moved after the adapter was built"):
        interp.adapter.score(_alerts())
