"""DeepLog model, adapter input checks and top-g detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_plugin_deeplog.detection import detect, make_windows, session_metrics
from deepaid_plugin_deeplog.model import DeepLog, load_deeplog, save_deeplog, train_deeplog


def _model(c: int = 6, w: int = 4) -> DeepLog:
    torch.manual_seed(0)
    return DeepLog(c, w, hidden=8, layers=1).eval()


def test_model_maps_one_hot_windows_to_logits():
    m = _model()
    out = m(F.one_hot(torch.randint(0, 6, (5, 4)), 6).float())
    assert out.shape == (5, 6)


@pytest.mark.parametrize("shape", [(5, 3, 6), (5, 4, 7), (5, 4)])
def test_model_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=r"one-hot windows \[B, 4, 6\]"):
        _model()(torch.zeros(shape))


def test_model_rejects_integer_input():
    with pytest.raises(TypeError, match="float one-hot"):
        _model()(torch.zeros(2, 4, 6, dtype=torch.int64))


def test_save_and_load_round_trip(tmp_path):
    m = _model()
    save_deeplog(m, tmp_path / "m.pt")
    again = load_deeplog(tmp_path / "m.pt")
    x = F.one_hot(torch.randint(0, 6, (3, 4)), 6).float()
    torch.testing.assert_close(again(x), m(x))


def test_adapter_rejects_keys_outside_range():
    a = DeepLogAdapter(_model(), num_candidates=2)
    with pytest.raises(ValueError, match=r"windows: key ids must lie in \[0, 6\); got \[6\]"):
        a.prepare_parts(np.array([[0, 1, 2, 6]]), np.array([1]))
    with pytest.raises(ValueError, match=r"next_keys: key ids must lie in \[0, 6\); got \[-1\]"):
        a.prepare_parts(np.array([[0, 1, 2, 3]]), np.array([-1]))
    with pytest.raises(ValueError, match=r"x: key ids"):
        a.prepare(np.array([[0, 1, 2, 3, 9]]))


def test_adapter_rejects_wrong_window_length():
    a = DeepLogAdapter(_model(), num_candidates=2)
    with pytest.raises(ValueError, match="built for windows of 4 keys"):
        a.prepare_parts(np.zeros((2, 5), dtype=np.int64), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"key sequences \[B, 5\]"):
        a.prepare(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"next_keys: expected one next key per window, shape \[2\]"):
        a.prepare_parts(np.zeros((2, 4), dtype=np.int64), np.zeros(3, dtype=np.int64))


def test_adapter_rejects_float_and_bool_keys():
    a = DeepLogAdapter(_model(), num_candidates=2)
    with pytest.raises(TypeError, match="integer key ids"):
        a.prepare(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(TypeError, match="integer key ids"):
        a.prepare_parts(np.zeros((2, 4), dtype=bool), np.zeros(2, dtype=np.int64))


class _WrongWidth(nn.Module):
    num_keys, window = 6, 4

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 5)

    def forward(self, x):
        return self.lin(x[:, -1])


def test_adapter_rejects_model_without_c_logits():
    with pytest.raises(ValueError, match=r"model: expected 6 next-key logits per window, shape \[2, 6\]; got \[2, 5\]"):
        DeepLogAdapter(_WrongWidth(), num_candidates=2)


def test_adapter_needs_sizes_for_foreign_modules_and_checks_arguments():
    bare = nn.Sequential(nn.Flatten(), nn.Linear(24, 6))
    with pytest.raises(ValueError, match="num_keys: not given"):
        DeepLogAdapter(bare)
    a = DeepLogAdapter(bare, num_keys=6, window=4, num_candidates=2)
    assert a.sample_shape == (5,)
    with pytest.raises(ValueError, match=r"num_candidates: expected g in \[1, 5\]"):
        DeepLogAdapter(bare, num_keys=6, window=4, num_candidates=6)
    with pytest.raises(TypeError, match="model: expected an nn.Module"):
        DeepLogAdapter(lambda x: x, num_keys=6, window=4)
    with pytest.raises(ValueError, match="calibrate"):
        a.calibrate(np.zeros((3, 5), dtype=np.int64))


def test_margin_is_positive_exactly_outside_top_g():
    torch.manual_seed(1)
    logits = torch.randn(200, 10)
    nxt = torch.randint(0, 10, (200,))
    for g in (1, 3, 9):
        in_top = (logits.topk(g, dim=1).indices == nxt[:, None]).any(dim=1)
        assert torch.equal(topg_margin(logits, nxt, g) > 0, ~in_top)


def test_detect_flags_next_keys_outside_top_g():
    m = _model()
    windows = torch.randint(0, 6, (50, 4))
    with torch.no_grad():
        logits = m(F.one_hot(windows, 6).float())
    best, worst = logits.argmax(dim=1), logits.argmin(dim=1)
    assert not detect(m, windows.numpy(), best.numpy(), num_candidates=2).any()
    assert detect(m, windows.numpy(), worst.numpy(), num_candidates=2).all()


def test_make_windows_pads_and_counts_short_sessions():
    sessions = [np.array([2, 3, 4]), np.array([2, 3, 4, 5, 6, 7])]
    padded = make_windows(sessions, 4, pad_key=0)
    assert len(padded) == 9 and padded.short == 0
    np.testing.assert_array_equal(padded.windows[0], [0, 0, 0, 0])
    np.testing.assert_array_equal(padded.position[:3], [0, 1, 2])
    with pytest.warns(UserWarning, match="1 of 2 sessions have 4 keys or fewer"):
        plain = make_windows(sessions, 4)
    assert plain.short == 1 and len(plain) == 2
    np.testing.assert_array_equal(plain.sequences[0], [2, 3, 4, 5, 6])


def test_session_metrics_counts_sessions():
    flags = np.array([False, True, False, False, True])
    session = np.array([0, 0, 1, 2, 2])
    m = session_metrics(flags, session, np.array([True, False, False, True]))
    # Session 3 has no window: unjudged, counted as not flagged (a miss here).
    assert (m.tp, m.fp, m.fn, m.tn, m.unjudged) == (1, 1, 1, 1, 1)
    assert m.precision == 0.5 and m.recall == 0.5 and m.f1 == 0.5


def test_training_learns_a_deterministic_cycle():
    cycle = np.tile(np.arange(2, 6), 30)
    w = make_windows([cycle], 3)
    model = train_deeplog(w.windows, w.next_keys, 6, hidden=16, layers=1, epochs=60, lr=2e-2)
    assert not detect(model, w.windows, w.next_keys, num_candidates=1).any()
    wrong = (w.next_keys - 2 + 1) % 4 + 2
    assert detect(model, w.windows, wrong, num_candidates=1).all()


def test_training_checks_its_data():
    with pytest.raises(ValueError, match=r"key ids must lie in \[0, 4\)"):
        train_deeplog(np.array([[0, 1, 5]]), np.array([1]), 4)
    with pytest.raises(ValueError, match="next_keys: expected shape"):
        train_deeplog(np.array([[0, 1, 2]]), np.array([1, 2]), 4)
