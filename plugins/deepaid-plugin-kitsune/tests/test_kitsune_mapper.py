"""KitNET's feature mapper: incremental correlations, agglomerative clustering, size-capped groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepaid_plugin_kitsune.mapper import CorrelationTracker, FeatureMapper, agglomerate, cut_tree


def _blocks(n: int, sizes: list[int], seed: int) -> tuple[np.ndarray, list[list[int]]]:
    """Columns in shuffled order; each block follows one latent variable plus a little noise."""
    rng = np.random.default_rng(seed)
    cols, groups, start = [], [], 0
    for size in sizes:
        latent = rng.normal(size=(n, 1))
        cols.append(latent * rng.uniform(0.5, 2.0, size) + 0.05 * rng.normal(size=(n, size)))
        groups.append(list(range(start, start + size)))
        start += size
    perm = rng.permutation(start)
    x = np.concatenate(cols, axis=1)[:, perm]
    where = np.argsort(perm)
    return x, [sorted(int(where[i]) for i in g) for g in groups]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 40), st.integers(1, 12), st.integers(0, 10_000), st.sampled_from(["single", "complete", "average"])
)
def test_groups_are_small_and_cover_every_feature_once(width: int, m: int, seed: int, linkage: str) -> None:
    x = np.random.default_rng(seed).normal(size=(60, width)) @ np.random.default_rng(seed + 1).normal(
        size=(width, width)
    )
    groups = FeatureMapper(m, linkage=linkage).fit(x)
    assert all(1 <= len(g) <= m for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(width))


def test_correlated_blocks_are_found() -> None:
    x, truth = _blocks(500, [4, 3, 5], seed=1)
    assert sorted(FeatureMapper(5).fit(x)) == sorted(truth)
    # With m smaller than a block, the block is split and nothing else mixes in.
    small = FeatureMapper(3).fit(x)
    assert sorted(i for g in small for i in g) == list(range(12)) and all(len(g) <= 3 for g in small)
    for g in small:
        assert any(set(g) <= set(t) for t in truth)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 50))
def test_correlation_does_not_depend_on_chunking(seed: int, chunk: int) -> None:
    x = np.random.default_rng(seed).normal(size=(80, 5)) * [1, 10, 1e3, 0.1, 1] + [0, 5, 1e4, 0, -3]
    x[:, 4] = 2 * x[:, 0] + 0.1 * x[:, 1]
    tracker = CorrelationTracker(5)
    for start in range(0, 80, chunk):
        tracker.update(x[start : start + chunk])
    np.testing.assert_allclose(tracker.correlation(), np.corrcoef(x, rowvar=False), atol=1e-9)


def test_constant_features_and_bad_input() -> None:
    x = np.random.default_rng(0).normal(size=(50, 4))
    x[:, 2] = 7.0
    corr = CorrelationTracker(4).update(x).correlation()
    assert corr[2, 2] == 1.0 and np.all(corr[2, [0, 1, 3]] == 0.0)
    with pytest.raises(ValueError, match=r"rows: expected shape \[n, 4\]"):
        CorrelationTracker(4).update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="linkage"):
        FeatureMapper(3, linkage="ward")
    with pytest.raises(ValueError, match="max_size"):
        FeatureMapper(0)


def test_agglomerate_merges_nearest_first_and_cut_respects_the_tree() -> None:
    d = np.array([[0, 1, 6, 10], [1, 0, 5, 9], [6, 5, 0, 2], [10, 9, 2, 0]], dtype=float)
    merges = agglomerate(d, "single")
    assert merges.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert cut_tree(merges, 4, 2) == [[0, 1], [2, 3]]
    assert cut_tree(merges, 4, 4) == [[0, 1, 2, 3]]
    assert cut_tree(merges, 4, 1) == [[0], [1], [2], [3]]
