"""The shared pieces every plugin uses: the weights cache, the training loop, array records, device and output
checks."""

import attrs
import numpy as np
import pytest
import torch
from torch import nn

from deepaid_sdk.cache import cache_key, cache_path, cached, load_state, save_state
from deepaid_sdk.checks import check_device, check_output
from deepaid_sdk.records import array_field
from deepaid_sdk.training import train_minibatches


def _linear(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def test_cache_trains_once_then_loads_and_retrains_a_broken_file(tmp_path):
    calls = []

    def train():
        calls.append(1)
        return _linear(len(calls))

    path = cache_path("lin", cache_key(np.arange(3.0), options={"a": 1}), tmp_path)
    first, hit1 = cached(path, train, save_state, lambda p: load_state(nn.Linear(3, 1), p))
    second, hit2 = cached(path, train, save_state, lambda p: load_state(nn.Linear(3, 1), p))
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    assert torch.equal(first.weight, second.weight)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    path.write_bytes(b"not a state dict")
    third, hit3 = cached(path, train, save_state, lambda p: load_state(nn.Linear(3, 1), p))
    assert (hit3, len(calls)) == (False, 2)
    assert not torch.equal(third.weight, first.weight)


def test_cache_key_depends_on_data_and_options():
    a = cache_key(np.zeros(4), options={"epochs": 1})
    assert a == cache_key(np.zeros(4), options={"epochs": 1})
    assert a != cache_key(np.zeros(4), options={"epochs": 2})
    assert a != cache_key(np.ones(4), options={"epochs": 1})
    assert a != cache_key(np.zeros((2, 2)), options={"epochs": 1})


def test_training_loop_is_seeded_and_learns():
    x = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def fit(seed):
        model = _linear(0)
        train_minibatches(
            model.parameters(),
            lambda idx: nn.functional.mse_loss(model(x[idx]), y[idx]),
            len(x),
            epochs=30,
            batch_size=32,
            lr=0.05,
            generator=torch.Generator().manual_seed(seed),
        )
        return model

    a, b, c = fit(1), fit(1), fit(2)
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, c.weight)
    assert nn.functional.mse_loss(a(x), y).item() < 1e-3
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1; got 0"):
        train_minibatches(
            a.parameters(),
            lambda idx: a(x[idx]).sum(),
            len(x),
            epochs=0,
            batch_size=8,
            lr=0.1,
            generator=torch.Generator(),
        )


@attrs.frozen
class _Record:
    values: np.ndarray = array_field()
    ids: np.ndarray = array_field(dtype=np.int64)


def test_array_records_compare_by_content_and_convert():
    a = _Record(np.array([1.0, 2.0]), [1, 2])
    assert a == _Record(np.array([1.0, 2.0]), np.array([1, 2]))
    assert a != _Record(np.array([1.0, 3.0]), [1, 2])
    assert a.ids.dtype == np.int64


def test_check_device():
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(TypeError, match="device: expected a torch device"):
        check_device("gpu0")
    if torch.cuda.is_available():
        assert check_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="device: cuda was asked for but torch sees no CUDA device"):
            check_device("cuda")


def test_check_output_names_both_shapes():
    out = torch.zeros(4, 2)
    assert check_output(out, (4, 2)) is out
    with pytest.raises(ValueError, match=r"model: expected output of shape \[4\]; got \[4, 2\]"):
        check_output(out, (4,))
    with pytest.raises(ValueError, match=r"net: expected scores of shape \[4\]; got tuple"):
        check_output((out,), (4,), "net", "scores")
