"""KitNET in torch: training, scores, gradients, reconstruction, state dicts, and its adapter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.kitnet import KitNET, fit_kitnet
from deepaid_plugin_kitsune.names import N_FEATURES
from deepaid_plugin_kitsune.synthetic import traffic_features
from deepaid_sdk.testing import check_adapter


@pytest.fixture(scope="module")
def trained() -> tuple[KitNET, object]:
    data = traffic_features(3000, 60, n_test=300, seed=3)
    return fit_kitnet(data.normal, epochs=10, seed=3), data


def test_kitnet_trains_and_separates_anomalies(trained) -> None:
    model, data = trained
    assert all(1 <= len(g) <= 10 for g in model.groups)
    assert sorted(i for g in model.groups for i in g) == list(range(N_FEATURES))
    with torch.no_grad():
        normal = model(torch.as_tensor(data.test_normal))
        anomalous = model(torch.as_tensor(data.anomalies))
    t = float(model.threshold)
    assert normal.shape == (300,) and torch.isfinite(normal).all()
    assert float((normal > t).float().mean()) < 0.05
    assert float((anomalous > t).float().mean()) > 0.5
    assert float(anomalous.median()) > float(normal.median())


def test_batched_ensemble_equals_one_autoencoder_at_a_time(trained) -> None:
    model, data = trained
    x = torch.as_tensor(data.anomalies[:7])
    v = model.normalize(x)
    expected = []
    for gi, group in enumerate(model.groups):  # the plain KitNET loop over autoencoders
        h = math.ceil(0.75 * len(group))
        w = model.weight[gi, : len(group), :h]
        hidden = torch.sigmoid(v[:, group] @ w + model.hidden_bias[gi, :h])
        recon = torch.sigmoid(hidden @ w.T + model.visible_bias[gi, : len(group)])
        expected.append(torch.sqrt(((recon - v[:, group]) ** 2).mean(dim=1)))
    torch.testing.assert_close(model.ensemble_rmse(x), torch.stack(expected, dim=1), atol=1e-5, rtol=1e-5)


def test_gradient_flows_from_score_to_every_feature(trained) -> None:
    model, data = trained
    x = torch.as_tensor(data.anomalies[:5]).requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad.abs().sum(dim=0) > 0).all()
    for p in model.parameters():
        assert p.grad is not None


def test_reconstruction_is_in_original_order_and_units(trained) -> None:
    model, data = trained
    x = torch.as_tensor(data.test_normal[:50])
    with torch.no_grad():
        rec = model.reconstruct(x)
    assert rec.shape == x.shape
    # Closer to the input than the training mean is, relative to each feature's training range.
    span = model.x_max - model.x_min
    err = float(((rec - x).abs() / span).mean())
    mean = torch.as_tensor(data.normal).mean(dim=0)
    assert err < float(((mean - x).abs() / span).mean())
    shuffled = rec[:, torch.randperm(N_FEATURES, generator=torch.Generator().manual_seed(0))]
    assert float(((shuffled - x).abs() / span).mean()) > 10 * err


def test_state_dict_round_trip(trained, tmp_path) -> None:
    model, data = trained
    path = tmp_path / "kitnet.pt"
    model.save(path)
    loaded = KitNET.load(path)
    x = torch.as_tensor(data.anomalies[:10])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert loaded.groups == model.groups and float(loaded.threshold) == float(model.threshold)
    with pytest.raises(ValueError, match="not a KitNET state dict"):
        KitNET.from_state_dict({"weight": torch.zeros(1)})


def test_adapter_conforms_in_both_spaces(trained) -> None:
    model, data = trained
    raw = KitNETAdapter(model)
    assert raw.threshold == pytest.approx(float(model.threshold)) and raw.sample_shape == (N_FEATURES,)
    check_adapter(raw, data.anomalies[:16])
    scaled = KitNETAdapter(model, space="scaled")
    z = scaled.to_space(torch.as_tensor(data.anomalies[:16]))
    check_adapter(scaled, z)
    with torch.no_grad():
        torch.testing.assert_close(
            scaled.score(z), raw.score(torch.as_tensor(data.anomalies[:16])), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(
            scaled.to_raw(scaled.reconstruct(z)),
            raw.reconstruct(torch.as_tensor(data.anomalies[:16])),
            atol=1e-2,
            rtol=1e-4,
        )
    span = (model.x_max - model.x_min).numpy()
    assert (np.abs(scaled.inverse(z.numpy()) - data.anomalies[:16]) <= 1e-5 * span + 1e-6).all()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="groups: expected non-empty groups covering features 0..3"):
        KitNET([[0, 1], [1, 2]], 4)
    with pytest.raises(ValueError, match=r"normal: expected a matrix"):
        fit_kitnet(np.zeros(5))
    with pytest.raises(TypeError, match="model: expected a KitNET"):
        KitNETAdapter(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="space"):
        KitNETAdapter(KitNET([[0]], 1), space="log")
