"""The predictor adapter: scores, reconstruction, input errors, and the cuDNN/RNN mode handling."""

import numpy as np
import pytest
import torch
from torch import nn

from deepaid_plugin_multits.adapters import LSTMPredictorAdapter, rnn_train_mode
from deepaid_plugin_multits.model import LSTMPredictor
from deepaid_plugin_multits.windows import sliding_windows
from deepaid_sdk.testing import check_adapter

W, D = 6, 4


def _adapter(**options):
    torch.manual_seed(0)
    return LSTMPredictorAdapter(LSTMPredictor(D, hidden=8), W, threshold=0.5, **options)


def _batch(b=5, seed=0):
    return torch.randn(b, W + 1, D, generator=torch.Generator().manual_seed(seed))


def test_score_is_rmse_of_prediction_against_actual_vector():
    adapter = _adapter()
    x = _batch()
    with torch.no_grad():
        pred = adapter.model(x[:, :-1])
        expected = ((pred - x[:, -1]) ** 2).mean(dim=1).sqrt()
        torch.testing.assert_close(adapter.score(x), expected, atol=1e-5, rtol=1e-5)
        rec = adapter.reconstruct(x)
    torch.testing.assert_close(rec[:, :-1], x[:, :-1])
    torch.testing.assert_close(rec[:, -1], pred)
    with torch.no_grad():
        assert bool((adapter.score(rec) < 1e-3).all())


def test_conforms_to_the_core_adapter_checks():
    check_adapter(_adapter(), _batch(8))


def test_calibrate_records_threshold_and_typical_score():
    adapter = _adapter()
    series = np.sin(np.arange(200)[:, None] / 5.0 + np.arange(D)).astype(np.float32)
    threshold = adapter.calibrate_series(series, 95.0)
    scores = adapter.scores(sliding_windows(series, W)).double().numpy()  # computed independently
    assert adapter.threshold == threshold == pytest.approx(np.percentile(scores, 95.0), rel=1e-6)
    assert adapter.typical_score == pytest.approx(np.sort(scores)[(len(scores) - 1) // 2], rel=1e-6)  # lower median


@pytest.mark.parametrize(
    "shape, message",
    [
        ((3, W + 1, D + 1), f"expected D={D} features per step"),
        ((3, W + 3, D), f"expected windows of W \\+ 1 = {W + 1} steps"),
        ((3, W, D), "append the actual vector"),
        ((W + 1, D), "got one sample"),
        ((3, (W + 1) * D), "expected a batch of windows"),
    ],
)
def test_wrong_window_shapes_are_clear_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        _adapter().prepare(torch.zeros(shape), "anomalies")


def test_nan_in_windows_names_the_rows():
    x = _batch()
    x[2, 0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"anomalies: contains NaN or inf \(rows \[2\]\)"):
        _adapter().prepare(x, "anomalies")


class _WrongWidth(nn.Module):
    def __init__(self, out_shape):
        super().__init__()
        self.lin = nn.Linear(D, D + 1)
        self.out_shape = out_shape

    def forward(self, x):
        y = self.lin(x[:, -1])
        return y if self.out_shape == "wide" else y[:, None, :D]


@pytest.mark.parametrize("kind", ["wide", "3d"])
def test_model_output_width_must_be_d(kind):
    adapter = LSTMPredictorAdapter(_WrongWidth(kind), W, features=D, threshold=1.0)
    with pytest.raises(ValueError, match=r"model: expected a prediction \[B, D\] = \[5, 4\]"):
        adapter.scores(_batch())


def test_constructor_errors():
    with pytest.raises(TypeError, match="model: expected an nn.Module"):
        LSTMPredictorAdapter(lambda x: x, W, features=D)
    with pytest.raises(ValueError, match="features: pass D"):
        LSTMPredictorAdapter(nn.Linear(D, D), W)
    with pytest.raises(ValueError, match="rnn_backward"):
        LSTMPredictorAdapter(LSTMPredictor(D), W, rnn_backward="train")


class _Mixed(nn.Module):
    """Dropout and batch norm outside the RNN, inter-layer dropout inside it."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 8)
        self.drop = nn.Dropout(0.5)
        self.lstm = nn.LSTM(8, 8, num_layers=2, dropout=0.3, batch_first=True)
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.norm = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, D)

    def forward(self, x):
        out, _ = self.lstm(self.drop(self.inp(x)))
        out, _ = self.gru(out)
        return self.head(self.norm(out[:, -1]))


def _modes(model):
    return {name: (m.training, getattr(m, "dropout", None)) for name, m in model.named_modules()}


@pytest.mark.parametrize("user_mode", [False, True])
def test_rnn_train_mode_switches_only_rnns_and_restores(user_mode):
    torch.manual_seed(0)
    model = _Mixed().train(user_mode)
    before = _modes(model)
    x = _batch()[:, :-1]
    with rnn_train_mode(model) as switched:
        assert switched == [model.lstm, model.gru]
        assert model.lstm.training and model.gru.training
        assert model.lstm.dropout == 0.0
        assert model.drop.training is user_mode and model.norm.training is user_mode
        if not user_mode:
            inside = model(x)
    assert _modes(model) == before
    if not user_mode:
        torch.testing.assert_close(inside, model(x))  # train-mode RNNs with dropout 0 compute what eval does


def test_rnn_train_mode_restores_after_an_error():
    model = _Mixed().eval()
    before = _modes(model)
    with pytest.raises(RuntimeError, match="boom"):
        with rnn_train_mode(model):
            raise RuntimeError("boom")
    assert _modes(model) == before


def test_rnn_context_is_the_core_helper_and_leaves_cpu_models_alone():
    adapter = LSTMPredictorAdapter(_Mixed().eval(), W, features=D, threshold=1.0)
    assert adapter.rnn_backward == "train_rnn"
    before = _modes(adapter.model)
    with adapter.rnn_context("cpu"):  # CPU kernels have an eval-mode backward: nothing to switch
        assert _modes(adapter.model) == before
    with pytest.raises(ValueError, match="rnn_backward: expected one of"):
        LSTMPredictorAdapter(
            _Mixed().eval(), W, features=D, rnn_backward="cudnn_off"
        )  # the process-wide switch is gone


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: cuDNN's RNN backward")
def test_gradients_through_an_eval_lstm_on_cuda_keep_the_users_modes():
    torch.manual_seed(0)
    adapter = LSTMPredictorAdapter(_Mixed().cuda().eval(), W, features=D, threshold=1.0)
    before = _modes(adapter.model)
    x = _batch().cuda().requires_grad_(True)
    adapter.score(x).sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0) and _modes(adapter.model) == before
    assert torch.backends.cudnn.enabled


def test_scores_keep_the_users_modes_on_cpu():
    torch.manual_seed(0)
    adapter = LSTMPredictorAdapter(_Mixed().eval(), W, features=D, threshold=1.0, rnn_backward="train_rnn")
    before = _modes(adapter.model)
    x = _batch().requires_grad_(True)
    adapter.score(x).sum().backward()
    assert x.grad is not None and _modes(adapter.model) == before


def test_fixed_context_scores_the_same_without_gradient_into_the_context():
    adapter = _adapter()
    adapter.typical_score = 0.1
    fixed = adapter.fixed_context()
    assert fixed.model is adapter.model and fixed.threshold == adapter.threshold and fixed.typical_score == 0.1
    assert adapter.context_gradient and not fixed.context_gradient
    x = _batch().requires_grad_(True)
    torch.testing.assert_close(fixed.score(x), adapter.score(x))
    (full,) = torch.autograd.grad(adapter.score(x).sum(), x)
    (last,) = torch.autograd.grad(fixed.score(x).sum(), x)
    torch.testing.assert_close(last[:, -1], full[:, -1])
    assert bool((last[:, :-1] == 0).all()) and bool((full[:, :-1] != 0).any())
    check_adapter(fixed, _batch(8))


class PrefixOnly(nn.Module):
    """The same predictor without ``predict_steps``: the all-steps adapter calls it once per prefix length."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.features = inner.features

    def forward(self, x):
        return self.inner(x)


def test_all_steps_score_predicts_every_step_from_the_steps_before_it():
    torch.manual_seed(0)
    model = LSTMPredictor(D, hidden=8)
    fast, slow = (LSTMPredictorAdapter(m, W).all_steps(min_context=2) for m in (model, PrefixOnly(model)))
    x = _batch(6)
    with torch.no_grad():
        expected = torch.stack([model(x[:, :t]) for t in range(2, W + 1)], dim=1)
        torch.testing.assert_close(fast.output(x), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(slow.output(x), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast.reconstruct(x)[:, 2:], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast.reconstruct(x)[:, :2], x[:, :2])
    normal = torch.randn(200, W + 1, D, generator=torch.Generator().manual_seed(1))
    threshold = fast.calibrate(normal, 99.0)
    assert fast.step_scale.shape == (W - 1,) and 0.8 < fast.typical_score < 1.2  # a normal window scores about 1
    assert threshold > fast.typical_score
    # A cell far off in a context row raises the score, and its gradient is largest there.
    odd = normal[:4].clone()
    odd[:, 3, 1] += 8.0
    assert bool((fast.scores(odd) > fast.scores(normal[:4])).all())
    odd.requires_grad_(True)
    (grad,) = torch.autograd.grad(fast.score(odd).sum(), odd)
    assert bool((grad.abs().flatten(1).argmax(dim=1) == 3 * D + 1).all())
    check_adapter(fast, _batch(8))
