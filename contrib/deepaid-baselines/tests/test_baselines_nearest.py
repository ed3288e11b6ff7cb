"""The nearest-normal-row baseline."""

import numpy as np
import pytest
import torch

from deepaid_baselines import NearestNormalSearch, nearest_rows
from deepaid_sdk import ConcisenessConstraint
from deepaid_sdk.testing import check_search

K = 3


def brute_nearest(x, rows):
    d = ((x[:, None, :].astype(np.float64) - rows[None, :, :].astype(np.float64)) ** 2).sum(axis=2)
    return d.argmin(axis=1), np.sqrt(d.min(axis=1))


def test_nearest_normal_picks_the_true_nearest_row(baselines_ae):
    ae = baselines_ae
    normal = ae.normal[:500]
    result = NearestNormalSearch(normal=normal, chunk=64).search(ae.adapter, ae.anomalies, [ConcisenessConstraint(K)])
    index, dist = brute_nearest(ae.anomalies, normal)
    assert [d["neighbour"] for d in result.details] == index.tolist()
    np.testing.assert_allclose([d["neighbour_distance"] for d in result.details], dist, rtol=1e-4)


def test_nearest_normal_reference_takes_the_neighbours_most_different_values(baselines_ae):
    ae = baselines_ae
    normal = ae.normal[:500]
    x = ae.anomalies
    result = NearestNormalSearch(normal=normal).search(ae.adapter, x, [ConcisenessConstraint(K)])
    mask = result.changed_mask()
    assert mask.sum(axis=1).max() <= K
    index, _ = brute_nearest(x, normal)
    for i, j in enumerate(index):
        diff = np.abs(normal[j] - x[i])
        assert set(np.flatnonzero(mask[i])) <= set(np.argsort(-diff)[:K])
        np.testing.assert_array_equal(result.references[i][mask[i]], normal[j][mask[i]])
        np.testing.assert_array_equal(result.references[i][~mask[i]], x[i][~mask[i]])


def test_nearest_rows_is_independent_of_chunking():
    rng = np.random.default_rng(0)
    x, rows = torch.as_tensor(rng.standard_normal((37, 6))), torch.as_tensor(rng.standard_normal((211, 6)))
    big = nearest_rows(x, rows)
    small = nearest_rows(x, rows, chunk=5, queries=4)
    assert torch.equal(big[0], small[0])
    assert torch.allclose(big[1], small[1])


def test_nearest_normal_conforms(baselines_ae):
    ae = baselines_ae
    check_search(NearestNormalSearch(normal=ae.normal[:300]), ae.adapter, ae.anomalies[:8], [ConcisenessConstraint(K)])


def test_nearest_normal_needs_normal_rows(baselines_ae):
    ae = baselines_ae
    assert not NearestNormalSearch.applies_to(ae.adapter)
    assert NearestNormalSearch.applies_to(ae.adapter, normal=ae.normal)
    with pytest.raises(ValueError, match="normal"):
        NearestNormalSearch().search(ae.adapter, ae.anomalies[:4], [ConcisenessConstraint(K)])
    with pytest.raises(ValueError, match="normal"):
        NearestNormalSearch(normal=ae.normal[:, :5]).search(ae.adapter, ae.anomalies[:4], [ConcisenessConstraint(K)])
    with pytest.raises(ValueError, match="chunk"):
        NearestNormalSearch(normal=ae.normal, chunk=0)
