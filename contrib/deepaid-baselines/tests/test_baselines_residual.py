"""The reconstruction-residual baseline."""

import numpy as np
import pytest
import torch

from deepaid_baselines import ResidualSearch
from deepaid_sdk import ConcisenessConstraint, FrozenConstraint
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.testing import check_search

K = 3


def reconstruction(ae, x):
    with torch.no_grad():
        return ae.model(torch.as_tensor(x)).numpy()


def test_residual_changes_the_k_largest_residuals_to_the_reconstruction(baselines_ae):
    ae = baselines_ae
    x = ae.anomalies
    result = ResidualSearch().search(ae.adapter, x, [ConcisenessConstraint(K)])
    rec = reconstruction(ae, x)
    mask = result.changed_mask()
    assert mask.sum(axis=1).max() <= K
    expected = np.argsort(-np.abs(rec - x), axis=1)[:, :K]
    for i in range(len(x)):
        assert set(np.flatnonzero(mask[i])) <= set(expected[i])
        np.testing.assert_allclose(result.references[i][mask[i]], rec[i][mask[i]], rtol=1e-6)
        np.testing.assert_array_equal(result.references[i][~mask[i]], x[i][~mask[i]])


def test_residual_names_planted_features_on_simple_data(baselines_ae):
    ae = baselines_ae
    result = ResidualSearch().search(ae.adapter, ae.anomalies, [ConcisenessConstraint(K)])
    hits = (result.changed_mask() & ae.truth).sum(axis=1) / K
    assert hits.mean() > 0.8


def test_residual_respects_frozen_features(baselines_ae):
    ae = baselines_ae
    result = ResidualSearch().search(ae.adapter, ae.anomalies, [ConcisenessConstraint(K), FrozenConstraint([0, 1, 2])])
    assert not result.changed_mask()[:, :3].any()


def test_residual_conforms(baselines_ae):
    ae = baselines_ae
    check_search(ResidualSearch(), ae.adapter, ae.anomalies[:8], [ConcisenessConstraint(K)])


def test_residual_needs_a_reconstruction(baselines_ae):
    ae = baselines_ae
    scorer = ScoreAdapter(lambda x: ae.adapter.score(x), threshold=ae.adapter.threshold, sample_shape=(20,))
    assert not ResidualSearch.applies_to(scorer)
    assert ResidualSearch.applies_to(ae.adapter)
    with pytest.raises(ValueError, match="reconstructs its input"):
        ResidualSearch().search(scorer, ae.anomalies[:4], [ConcisenessConstraint(K)])


def test_residual_needs_k(baselines_ae):
    ae = baselines_ae
    with pytest.raises(ValueError, match="ConcisenessConstraint"):
        ResidualSearch().search(ae.adapter, ae.anomalies[:4])
    result = ResidualSearch(k=2).search(ae.adapter, ae.anomalies[:4])
    assert result.changed_mask().sum(axis=1).max() <= 2


def test_residual_checks_its_options():
    with pytest.raises(ValueError, match="k"):
        ResidualSearch(k=0)
    with pytest.raises(ValueError, match="seed"):
        ResidualSearch(seed=-1)
    with pytest.raises(TypeError, match="normal"):
        ResidualSearch(normal=[[1.0]])
