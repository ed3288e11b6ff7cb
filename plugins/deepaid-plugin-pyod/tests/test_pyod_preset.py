"""``create("pyod", ...)``: gradient on PyOD's torch models, blackbox on the rest; names and thresholds."""

from __future__ import annotations

import numpy as np
import pytest

import deepaid_sdk
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.search.gradient import GradientSearch
from deepaid_sdk.testing import check_search

K = 2  # as in conftest.py


def _recall(batch, truth: np.ndarray) -> float:
    return float(np.mean([truth[i, c[:K]].mean() for i, c in enumerate(batch.changed)]))


def test_ecod_is_explained_by_the_blackbox_search(table, ecod) -> None:
    normal, anomalies, truth = table
    interp = deepaid_sdk.create("pyod", model=ecod, normal=normal, k=K)
    assert isinstance(interp.search, BlackboxSearch) and interp.search.normal is not None
    alert = ~interp.adapter.is_normal(interp.adapter.prepare(anomalies)).numpy()
    batch = interp.interpret_batch(anomalies[alert])
    assert batch.flip_rate >= 0.95
    assert _recall(batch, truth[alert]) >= 0.7
    check_search(interp.search, interp.adapter, anomalies[alert][:6], interp.constraints)


def test_autoencoder_is_explained_by_the_gradient_search(table, autoencoder) -> None:
    normal, anomalies, truth = table
    interp = deepaid_sdk.create("pyod", model=autoencoder, normal=normal, k=K)
    assert isinstance(interp.search, GradientSearch)
    assert interp.adapter.threshold == pytest.approx(autoencoder.threshold_)
    alert = ~interp.adapter.is_normal(interp.adapter.prepare(anomalies)).numpy()
    assert alert.sum() >= 20
    batch = interp.interpret_batch(anomalies[alert])
    assert batch.flip_rate >= 0.9
    blackbox = deepaid_sdk.create("pyod", model=autoencoder, normal=normal, k=K, search="blackbox")
    assert blackbox.interpret_batch(anomalies[alert]).flip_rate >= 0.9


def test_feature_names_from_a_frame_like_normal_and_from_features(table, ecod) -> None:
    names = [f"sensor_{j}" for j in range(table[0].shape[1])]

    class Frame:  # the two things the preset reads from a pandas DataFrame (pandas is not a dependency)
        columns = names

        def to_numpy(self) -> np.ndarray:
            return table[0]

    interp = deepaid_sdk.create("pyod", model=ecod, normal=Frame(), k=K)
    assert interp.feature_names == tuple(names)
    alert = table[1][~interp.adapter.is_normal(interp.adapter.prepare(table[1])).numpy()]
    assert "sensor_" in interp.table(interp.interpret(alert[0]))
    assert deepaid_sdk.create("pyod", model=ecod, normal=table[0], features=names[::-1]).feature_names[0] == names[-1]


def test_forcing_gradient_on_ecod_suggests_blackbox(table, ecod) -> None:
    interp = deepaid_sdk.create("pyod", model=ecod, normal=table[0], k=K, search="gradient")
    with pytest.raises(ValueError, match=r"ECOD has no gradient.*search='blackbox'"):
        interp.interpret_batch(table[1])
