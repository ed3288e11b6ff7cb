"""Tabular adapters: width, the creation-time probe, score models, VAE-style outputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from deepaid_plugin_tabular import AutoencoderAdapter, infer_width, tabular_adapter
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.testing import check_adapter


def ae(width: int = 6, out: int | None = None) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(width, 3), nn.Tanh(), nn.Linear(3, width if out is None else out)).eval()


class TupleVAE(nn.Module):
    """Returns (reconstruction, mu, logvar) like a VAE's forward."""

    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.enc, self.dec = nn.Linear(width, 4), nn.Linear(2, width)

    def encode(self, x):
        h = self.enc(x)
        return h[:, :2], h[:, 2:]

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.dec(mu), mu, logvar


def test_width_from_first_linear_or_given():
    assert infer_width(ae(7)) == 7
    assert infer_width(nn.Identity(), width=4) == 4
    with pytest.raises(ValueError, match="width"):
        infer_width(nn.Identity())
    with pytest.raises(TypeError, match="width"):
        infer_width(ae(), width=2.5)


def test_score_is_per_sample_rmse_of_the_reconstruction():
    model = ae()
    adapter = AutoencoderAdapter(model, threshold=0.5)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = (model(x) - x).pow(2).mean(dim=1).sqrt()
        assert torch.allclose(adapter.score(x), expected, atol=1e-5)
    assert adapter.sample_shape == (6,)
    check_adapter(adapter, x)


def test_output_shape_differing_from_input_fails_at_creation():
    with pytest.raises(ValueError, match=r"\[1, 6\] to \[1, 6\]; got \[1, 5\]"):
        AutoencoderAdapter(ae(6, out=5), threshold=1.0)
    with pytest.raises(ValueError, match=r"expected \[1, 6\].*or \[1\].*got \[1, 5\]"):
        tabular_adapter(ae(6, out=5), 1.0)


def test_wrong_width_names_the_option():
    with pytest.raises(ValueError, match=r"one row of zeros \[1, 9\] failed.*width=9"):
        AutoencoderAdapter(ae(6), threshold=1.0, width=9)


def test_tuple_output_needs_an_index_and_then_works():
    with pytest.raises(ValueError, match="output=INDEX"):
        AutoencoderAdapter(TupleVAE(), threshold=1.0)
    vae = TupleVAE().eval()
    adapter = AutoencoderAdapter(vae, threshold=1.0, output=0)
    x = torch.randn(4, 6)
    with torch.no_grad():
        assert torch.allclose(adapter.reconstruct(x), vae(x)[0])
    mean_path = AutoencoderAdapter(vae, threshold=1.0, output=lambda x: vae.dec(vae.encode(x)[0]))
    with torch.no_grad():
        assert torch.allclose(mean_path.score(x), adapter.score(x))
    with pytest.raises(TypeError, match="output"):
        AutoencoderAdapter(vae, threshold=1.0, output="mu")


def test_auto_detects_score_models_and_functions():
    scorer = nn.Sequential(nn.Linear(6, 1), nn.Flatten(0))
    adapter = tabular_adapter(scorer, 0.0)
    assert isinstance(adapter, ScoreAdapter) and adapter.sample_shape == (6,)
    fn = tabular_adapter(lambda x: x.pow(2).sum(dim=1), 1.0, width=3)
    assert isinstance(fn, ScoreAdapter)
    assert fn.scores(np.ones((2, 3))).tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="width"):
        tabular_adapter(lambda x: x.sum(dim=1), 1.0)
    with pytest.raises(ValueError, match=r"one score per row, \[1\]; got \[1, 3\]"):
        tabular_adapter(lambda x: x, 1.0, width=3)
    with pytest.raises(ValueError, match="looks like a score model"):
        AutoencoderAdapter(scorer, threshold=0.0)
    with pytest.raises(ValueError, match="adapter"):
        tabular_adapter(ae(), 1.0, kind="vae")
    with pytest.raises(TypeError, match="model"):
        tabular_adapter("not a model", 1.0)


def test_training_mode_with_dropout_warns():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    with pytest.warns(UserWarning, match="training mode"):
        AutoencoderAdapter(model, threshold=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AutoencoderAdapter(model.eval(), threshold=1.0)


def test_threshold_must_be_finite():
    with pytest.raises(ValueError, match="threshold"):
        AutoencoderAdapter(ae(), threshold=float("nan"))
