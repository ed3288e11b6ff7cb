"""LSTMs that read the context (``input="context"``) or the whole window, target step included
(``input="window"``): the input mode is detected from the model's own scores, and the explanation
is of the model's own score."""

import numpy as np
import pytest
import torch
from torch import nn

from deepaid_plugin_multits.adapters import LSTMPredictorAdapter
from deepaid_plugin_multits.windows import sliding_windows
from deepaid_sdk import create

W, D = 4, 3


class SmallLSTM(nn.Module):
    """``[B, L, D] -> [B, D]``: an LSTM over whatever steps it is given, a linear map of its last state."""

    def __init__(self) -> None:
        super().__init__()
        self.features = D
        self.lstm = nn.LSTM(D, 8, batch_first=True)
        self.head = nn.Linear(8, D)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def _series(seed: int, steps: int = 400) -> np.ndarray:
    t = np.arange(steps)[:, None]
    rng = np.random.default_rng(seed)
    return (np.sin(t / 5.0 + np.arange(D)) + 0.05 * rng.standard_normal((steps, D))).astype(np.float32)


def _trained(reads_window: bool) -> nn.Module:
    """Trained for 80 full-batch Adam steps on the 396 windows of a noisy sine series."""
    torch.manual_seed(0)
    model = SmallLSTM()
    x = torch.as_tensor(sliding_windows(_series(0), W))
    seen = x if reads_window else x[:, :-1]
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(80):
        opt.zero_grad()
        loss = (model(seen) - x[:, -1]).pow(2).mean()
        loss.backward()
        opt.step()
    return model.eval()


def _own_score(model: nn.Module, reads_window: bool):
    """The model's own score, as its authors compute it: RMSE of its prediction of the last vector."""

    def score(x):
        x = torch.as_tensor(x, dtype=torch.float32)
        with torch.no_grad():
            pred = model(x if reads_window else x[:, :-1])
        return (pred - x[:, -1]).pow(2).mean(dim=1).sqrt()

    return score


@pytest.fixture(scope="module")
def models():
    return {"window": _trained(True), "context": _trained(False)}


@pytest.mark.parametrize("kind", ["window", "context"])
def test_the_input_mode_is_detected_from_the_models_own_scores(models, kind):
    model, normal = models[kind], _series(1)
    own = _own_score(model, kind == "window")
    samples = sliding_windows(normal, W)
    for given in (own, own(samples).numpy()):  # a callable, or the scores of the normal samples
        interp = create("multits", model=model, window=W, normal=normal, model_score=given)
        adapter = interp.adapter
        assert adapter.input == kind and f"input={kind!r} reproduces model_score" in adapter.input_detection
        assert adapter.describe()["input"] == kind
        np.testing.assert_allclose(adapter.scores(samples[:50]).numpy(), own(samples[:50]).numpy(), rtol=1e-4)
    other = "context" if kind == "window" else "window"
    ratio = LSTMPredictorAdapter(model, W, input=other).scores(samples).numpy() / own(samples).numpy()
    assert abs(np.median(ratio) - 1.0) > 0.05  # the other mode explains a different score
    with pytest.raises(ValueError, match=rf"input: given '{other}', but the model's own scores match input='{kind}'"):
        create("multits", model=model, window=W, normal=normal, model_score=own, input=other)


def test_a_score_neither_mode_reproduces_is_refused_with_both_ratios(models):
    model, normal = models["window"], _series(1)
    own = _own_score(model, True)
    with pytest.raises(ValueError, match=r"neither input mode reproduces.*context [\d.]+, window 0\.5\b"):
        create("multits", model=model, window=W, normal=normal, model_score=lambda x: 2 * own(x))
    with pytest.raises(ValueError, match=r"model_score: scores given as an array need normal="):
        create("multits", model=model, window=W, threshold=1.0, model_score=np.ones(10))
    with pytest.raises(ValueError, match=r"input: expected one of \('context', 'window'\)"):
        create("multits", model=model, window=W, normal=normal, input="whole")
    interp = create("multits", model=model, window=W, normal=normal)
    assert interp.adapter.input == "context" and interp.adapter.input_detection.startswith("default")


@pytest.mark.parametrize("kind", ["window", "context"])
def test_a_spike_on_the_last_vector_is_explained_on_the_models_own_score(models, kind):
    model, normal = models[kind], _series(1)
    own = _own_score(model, kind == "window")
    interp = create("multits", model=model, window=W, normal=normal, input=kind, k=1)
    x = sliding_windows(_series(2, 60), W)[::10].copy()
    x[:, -1, 1] += 3.0  # one spiked cell on the actual vector of every sample
    batch = interp.interpret_batch(x)
    assert batch.alerts.all()
    np.testing.assert_allclose(batch.scores, own(x).numpy(), rtol=1e-4)
    np.testing.assert_allclose(batch.reference_scores, own(batch.references).numpy(), rtol=1e-4, atol=1e-6)
    assert batch.flipped.mean() >= 0.8
    assert all(c.tolist() == [[W, 1]] for c, ok in zip(batch.changed, batch.flipped) if ok)
