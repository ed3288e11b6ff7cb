"""Shared fixtures of the deepaid-baselines tests: one small autoencoder on manifold data."""

import numpy as np
import pytest
import torch

from deepaid_sdk.bench.synthetic import manifold_data, train_autoencoder
from deepaid_sdk.model.adapters import ReconstructionAdapter

WIDTH = 20
K = 3


class ManifoldAE:
    """A trained 20-feature autoencoder, its normal rows and its alerts with planted features."""

    def __init__(self) -> None:
        normal, anomalies, truth = manifold_data(2000, 60, WIDTH, 4, K, seed=1)
        self.normal = normal
        self.model = train_autoencoder(normal, epochs=25, seed=1)
        self.adapter = ReconstructionAdapter(self.model, sample_shape=(WIDTH,))
        self.adapter.calibrate(normal, 99.0)
        with torch.no_grad():
            alert = (~self.adapter.is_normal(torch.as_tensor(anomalies))).numpy()
        self.anomalies = anomalies[alert]
        self.truth = truth[alert]

    def is_normal(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.adapter.is_normal(self.adapter.prepare(x)).numpy()


@pytest.fixture(scope="session")
def baselines_ae() -> ManifoldAE:
    ae = ManifoldAE()
    assert len(ae.anomalies) >= 20, "the fixture needs enough alerts"
    return ae
