"""PyOD adapters: the torch rebuild scores like PyOD, thresholds come from the detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepaid_plugin_pyod.adapters import EcdfAdapter, PyodTorchAdapter, pyod_adapter
from deepaid_sdk.model.differentiable import choose_search
from deepaid_sdk.model.foreign import SklearnAdapter
from deepaid_sdk.testing import check_adapter


def test_autoencoder_rebuild_scores_like_pyod(table, autoencoder) -> None:
    adapter = pyod_adapter(autoencoder)
    assert isinstance(adapter, PyodTorchAdapter) and adapter.kind == "autoencoder"
    np.testing.assert_allclose(
        adapter.scores(table[1]).numpy(), autoencoder.decision_function(table[1]), rtol=1e-4, atol=1e-4
    )
    assert adapter.threshold == pytest.approx(autoencoder.threshold_)
    check_adapter(adapter, table[1][:8])
    assert choose_search(adapter, table[0]) == "gradient"
    rec = adapter.reconstruct(adapter.prepare(table[0][:5]))
    assert float((rec.detach() - torch.as_tensor(table[0][:5])).abs().mean()) < 3.0  # back in input units


def test_deep_svdd_rebuild_scores_like_pyod(table) -> None:
    from pyod.models.deep_svdd import DeepSVDD

    torch.manual_seed(0)
    model = DeepSVDD(n_features=table[0].shape[1], hidden_neurons=[6, 3], epochs=3, verbose=0, random_state=0).fit(
        table[0]
    )
    adapter = pyod_adapter(model)
    assert adapter.kind == "deepsvdd" and adapter.reconstruct(adapter.prepare(table[1][:2])) is None
    np.testing.assert_allclose(
        adapter.scores(table[1]).numpy(), model.decision_function(table[1]), rtol=1e-4, atol=1e-5
    )
    check_adapter(adapter, table[1][:8])


def test_vae_uses_its_mean_path(table) -> None:
    from pyod.models.vae import VAE

    torch.manual_seed(0)
    model = VAE(
        encoder_neuron_list=[6], decoder_neuron_list=[6], latent_dim=2, epoch_num=2, verbose=0, random_state=0
    ).fit(table[0])
    adapter = pyod_adapter(model)
    first, again = adapter.scores(table[1]), adapter.scores(table[1])
    torch.testing.assert_close(first, again)  # deterministic, unlike PyOD's sampled latent code
    check_adapter(adapter, table[1][:8])


def test_ecod_scores_each_row_as_pyod_scores_it_alone(table, ecod) -> None:
    adapter = pyod_adapter(ecod)
    assert isinstance(adapter, EcdfAdapter)
    assert adapter.threshold == pytest.approx(ecod.threshold_)
    alone = np.array([ecod.decision_function(table[1][i : i + 1])[0] for i in range(len(table[1]))])
    np.testing.assert_allclose(adapter.scores(table[1]).numpy(), alone, rtol=1e-5)
    check_adapter(adapter, table[1][:8])  # batch-invariant, unlike PyOD's batch decision_function
    assert choose_search(adapter, table[0]) == "blackbox"


def test_other_detectors_use_decision_function_and_threshold(table) -> None:
    from pyod.models.iforest import IForest

    model = IForest(n_estimators=30, random_state=0).fit(table[0])
    adapter = pyod_adapter(model)
    assert isinstance(adapter, SklearnAdapter) and adapter.higher_is_anomalous
    assert adapter.threshold == pytest.approx(model.threshold_)
    np.testing.assert_array_equal(~adapter.is_normal(adapter.prepare(table[1])).numpy(), model.predict(table[1]) == 1)
    check_adapter(adapter, table[1][:8])


def test_not_a_pyod_detector_is_refused() -> None:
    with pytest.raises(TypeError, match="model: expected a fitted PyOD detector"):
        pyod_adapter(object())
