"""deepaid_sdk.model.rnn: gradients through RNNs in eval mode, thread-safe, dropout and other modules untouched."""

import threading

import pytest
import torch
from torch import nn

from deepaid_sdk.model.rnn import rnn_gradients, rnn_train_mode


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.3, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        out, _ = self.lstm(self.drop(x))
        return self.head(out[:, -1]).squeeze(1)


def _modes(model):
    return {name: (m.training, getattr(m, "dropout", None)) for name, m in model.named_modules()}


def test_two_threads_share_the_switch_and_the_last_one_restores():
    model = _Net().eval()
    before = _modes(model)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with rnn_train_mode(model):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with rnn_train_mode(model):
            second_in.set()
            first_out.wait(5)
            # the first thread has left: the RNN must still be in train mode with dropout 0 for us
            seen["after_first_left"] = (model.lstm.training, model.lstm.dropout, model.drop.training)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after_first_left"] == (True, 0.0, False)
    assert _modes(model) == before


def test_many_threads_scoring_with_gradients_end_restored_and_agree():
    torch.manual_seed(0)
    model = _Net().eval()
    before = _modes(model)
    x = torch.randn(8, 5, 3)
    with torch.no_grad():
        expected = model(x)
    errors, outputs = [], []

    def work():
        try:
            for _ in range(20):
                with rnn_train_mode(model):
                    xi = x.clone().requires_grad_(True)
                    out = model(xi)
                    out.sum().backward()
                    outputs.append(out.detach())
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(outputs) == 80
    for out in outputs:  # train-mode RNNs with dropout 0 compute what eval mode does
        torch.testing.assert_close(out, expected)
    assert _modes(model) == before


def test_rnn_gradients_does_nothing_on_cpu_or_without_gradients():
    model = _Net().eval()
    before = _modes(model)
    with rnn_gradients(model, "cpu"):
        assert _modes(model) == before
    with torch.no_grad(), rnn_gradients(model, "cuda"):
        assert _modes(model) == before
    with rnn_gradients(None, "cuda"):
        assert _modes(model) == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: cuDNN's RNN backward")
def test_cuda_backward_through_an_eval_lstm_needs_and_gets_the_switch():
    torch.manual_seed(0)
    model = _Net().cuda().eval()
    before = _modes(model)
    x = torch.randn(8, 5, 3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="training mode"):
        model(x).sum().backward()
    with rnn_gradients(model, x.device):
        model(x).sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    assert _modes(model) == before and torch.backends.cudnn.enabled
