"""Shared fixtures of the PyOD plugin's tests: small detectors fitted once per session."""

from __future__ import annotations

import os

# PyOD's deep models score through a numba function whose first compilation takes ~20 s; the
# tests' arrays are tiny, so run it as plain Python (set before numba is imported).
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

D, K = 8, 2


@pytest.fixture(scope="session")
def table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlated normal rows (two latent factors) in mixed units; anomalies with K features shifted."""
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(2, D))
    normal = (rng.normal(size=(400, 2)) @ mix + 0.1 * rng.normal(size=(400, D))) * 3.0 + 10.0
    anomalies = (rng.normal(size=(30, 2)) @ mix + 0.1 * rng.normal(size=(30, D))) * 3.0 + 10.0
    truth = np.zeros(anomalies.shape, dtype=bool)
    for i in range(len(anomalies)):
        truth[i, rng.choice(D, K, replace=False)] = True
    anomalies = np.where(truth, anomalies + 12.0, anomalies)
    return normal.astype(np.float32), anomalies.astype(np.float32), truth


@pytest.fixture(scope="session")
def autoencoder(table):
    from pyod.models.auto_encoder import AutoEncoder

    torch.manual_seed(0)
    return AutoEncoder(
        hidden_neuron_list=[6, 3],
        epoch_num=30,
        batch_size=64,
        dropout_rate=0.0,
        contamination=0.01,
        batch_norm=False,
        verbose=0,
        random_state=0,
    ).fit(table[0])


@pytest.fixture(scope="session")
def ecod(table):
    from pyod.models.ecod import ECOD

    return ECOD(contamination=0.01).fit(table[0])
