"""The gradient-free ``blackbox`` search on real sklearn detectors: flips, constraints, budget, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from deepaid_sdk import registry
from deepaid_sdk.constraints import (
    BoxConstraint,
    ConcisenessConstraint,
    FrozenConstraint,
    IntegerConstraint,
    OneHotConstraint,
    StabilityConstraint,
)
from deepaid_sdk.model.foreign import NumpyScoreAdapter, SklearnAdapter
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.target import DEFAULT_FALLBACK_SHARE
from deepaid_sdk.testing import check_search

D, K = 12, 3


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal rows from one Gaussian; anomalies: normal rows with K planted features shifted by 6 std."""
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(600, D)).astype(np.float32)
    anomalies = rng.normal(size=(40, D)).astype(np.float32)
    truth = np.zeros_like(anomalies, dtype=bool)
    for i in range(len(anomalies)):
        truth[i, rng.choice(D, K, replace=False)] = True
    anomalies = np.where(truth, anomalies + 6.0, anomalies).astype(np.float32)
    return normal, anomalies, truth


@pytest.fixture(scope="session")
def forest(data) -> SklearnAdapter:
    model = IsolationForest(n_estimators=50, random_state=0).fit(data[0])
    adapter = SklearnAdapter(model)
    adapter.calibrate(data[0], 99)
    return adapter


def _alerts(adapter, x: np.ndarray) -> np.ndarray:
    return x[~adapter.is_normal(adapter.prepare(x)).numpy()]


def test_blackbox_is_registered() -> None:
    assert registry().get("searches", "blackbox").factory is BlackboxSearch


def test_flips_isolation_forest_and_finds_planted_features(data, forest) -> None:
    normal, anomalies, truth = data
    alert = ~forest.is_normal(forest.prepare(anomalies)).numpy()
    assert alert.sum() >= 30
    result = BlackboxSearch(normal=normal).search(forest, anomalies[alert], [ConcisenessConstraint(K)])
    assert result.flip_rate == 1.0
    hits = [truth[alert][i, c[:K]].mean() for i, c in enumerate(result.changed)]
    assert float(np.mean(hits)) >= 0.7
    assert all(len(c) <= K for c in result.changed)


def test_reference_reaches_the_target_quantile_of_normal_scores(data, forest) -> None:
    normal, anomalies, _ = data
    x = _alerts(forest, anomalies)
    median = float(np.median(forest.scores(normal).numpy()))
    typical = BlackboxSearch(normal=normal, target=0.5).search(forest, x, [ConcisenessConstraint(6)])
    barely = BlackboxSearch(normal=normal, target=None).search(forest, x, [ConcisenessConstraint(6)])
    assert typical.params["target_score"] == pytest.approx(median, abs=1e-5)
    assert barely.params["target_score"] == pytest.approx(forest.threshold)
    assert (typical.reference_scores <= median + 1e-6).mean() >= 0.9
    assert typical.reference_scores.mean() < barely.reference_scores.mean()


def test_conformance_with_hard_constraints(data, forest) -> None:
    normal, anomalies, _ = data
    x = _alerts(forest, anomalies)[:8]
    low = np.minimum(x.min(axis=0), -0.5)  # the alerts lie in the box; low normal values do not
    constraints = [
        ConcisenessConstraint(K),
        BoxConstraint(low, 12.0),
        IntegerConstraint([0, 1]),
        FrozenConstraint([2, 3]),
        StabilityConstraint(0.01),
    ]
    result = check_search(BlackboxSearch(normal=normal), forest, x, constraints)
    np.testing.assert_array_equal(result.references[:, 2:4], x[:, 2:4])
    refs = result.references
    assert np.all(np.abs(refs[:, :2] - np.round(refs[:, :2])) < 1e-6)


def test_onehot_groups_stay_one_hot() -> None:
    rng = np.random.default_rng(1)
    codes = np.eye(4, dtype=np.float32)[rng.integers(0, 2, size=400)]  # normal rows use codes 0 and 1 only
    normal = np.concatenate([codes, rng.normal(size=(400, 4)).astype(np.float32)], axis=1)

    def score(rows: np.ndarray) -> np.ndarray:  # code 3 is alarming, and so are large values
        return 4.0 * rows[:, 3] + np.abs(rows[:, 4:]).max(axis=1)

    adapter = NumpyScoreAdapter(score, width=8)
    adapter.calibrate(normal, 99)
    odd = np.concatenate([np.eye(4, dtype=np.float32)[[3] * 10], rng.normal(size=(10, 4)).astype(np.float32)], 1)
    x = _alerts(adapter, odd)
    assert len(x) == 10
    result = check_search(
        BlackboxSearch(normal=normal), adapter, x, [ConcisenessConstraint(3), OneHotConstraint([[0, 1, 2, 3]])]
    )
    assert result.flip_rate == 1.0
    assert np.all(result.references[:, 3] == 0)


def test_steps_are_a_deterministic_bounded_budget(data, forest) -> None:
    normal, anomalies, _ = data
    x = _alerts(forest, anomalies)
    search = BlackboxSearch(normal=normal, chunk=50_000)
    first = search.search(forest, x, [ConcisenessConstraint(K)])
    again = search.search(forest, x[::-1].copy(), [ConcisenessConstraint(K)])
    np.testing.assert_array_equal(first.steps, again.steps[::-1])
    np.testing.assert_array_equal(first.references, again.references[::-1])
    refine = 1 + 5 + 2 * (K * (search.settings.refine_steps + 2) + 1)  # reconstruction walk, two sweeps
    bound = (
        min(D, max(search.settings.screen, 3 * K))
        + 1
        + K * search.settings.width
        + refine
        + search.settings.swaps * (1 + D + 1 + refine)
        + (1 + K * K)
        + 1
        + search.settings.line_steps
    )
    assert first.steps.min() >= D and first.steps.max() <= bound


def test_chunk_size_never_changes_a_row(data, forest) -> None:
    normal, anomalies, _ = data
    x = _alerts(forest, anomalies)
    small = BlackboxSearch(normal=normal, chunk=2_000).search(forest, x, [ConcisenessConstraint(K)])
    large = BlackboxSearch(normal=normal).search(forest, x, [ConcisenessConstraint(K)])
    np.testing.assert_array_equal(small.references, large.references)


def test_numpy_score_function(data) -> None:
    normal, anomalies, truth = data
    mean, std = normal.mean(0), normal.std(0)

    def score(rows: np.ndarray) -> np.ndarray:  # max |z|: piecewise, no gradient anywhere
        return np.abs((rows - mean) / std).max(axis=1)

    adapter = NumpyScoreAdapter(score, width=D)
    adapter.calibrate(normal, 99)
    alert = ~adapter.is_normal(adapter.prepare(anomalies)).numpy()
    result = check_search(BlackboxSearch(normal=normal), adapter, anomalies[alert], [ConcisenessConstraint(K)])
    assert result.flip_rate >= 0.95  # a plateau: undoing one of the shifted features alone changes nothing
    hits = [truth[alert][i, c[:K]].mean() for i, c in enumerate(result.changed)]
    assert float(np.mean(hits)) >= 0.9


def test_refuses_without_normal_rows_or_reconstruction(data, forest) -> None:
    with pytest.raises(ValueError, match="normal: the blackbox search takes candidate values"):
        BlackboxSearch().search(forest, data[1][:2], [ConcisenessConstraint(K)])


@pytest.mark.parametrize(
    "options, match",
    [
        ({"target": 1.5}, "target: expected a quantile"),
        ({"values": ("median",)}, "values: expected"),
        ({"width": 0}, "width"),
        ({"normal": [[1.0]]}, "normal: expected a numpy array"),
    ],
)
def test_bad_options_are_named(options, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        BlackboxSearch(**options)


def test_uses_reconstruction_without_normal_rows() -> None:
    from deepaid_sdk.model.adapters import ReconstructionAdapter

    torch.manual_seed(0)
    proj = torch.linalg.qr(torch.randn(6, 2)).Q  # projection onto a plane: x -> P P^T x
    model = torch.nn.Linear(6, 6, bias=False)
    with torch.no_grad():
        model.weight.copy_(proj @ proj.T)
    adapter = ReconstructionAdapter(model, threshold=0.05, sample_shape=(6,))
    x = (torch.randn(5, 2) @ proj.T) + torch.eye(6)[:5] * 2.0
    result = check_search(BlackboxSearch(), adapter, x, [ConcisenessConstraint(6)])
    assert result.flip_rate == 1.0
    # No normal scores: the one typical rule of deepaid_sdk.target, a quarter of |threshold| below it.
    assert result.params["target_score"] == pytest.approx(0.05 * (1 - DEFAULT_FALLBACK_SHARE))


def test_lof_novelty(data) -> None:
    normal, anomalies, _ = data
    model = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(normal)
    adapter = SklearnAdapter(model)
    x = _alerts(adapter, anomalies)
    assert len(x) > 0
    result = BlackboxSearch(normal=normal).search(adapter, x, [ConcisenessConstraint(K)])
    assert result.flip_rate >= 0.95


def test_k_is_a_budget_the_search_changes_only_the_cause() -> None:
    from deepaid_sdk.model.adapters import ScoreAdapter

    gen = torch.Generator().manual_seed(0)
    normal = torch.randn(400, 6, generator=gen) * 0.1
    adapter = ScoreAdapter(lambda x: x.pow(2).sum(dim=1), threshold=0.2, sample_shape=(6,))
    adapter.observe_normal(normal)
    anomalies = torch.randn(8, 6, generator=gen) * 0.1
    anomalies[:, 2] = 1.0  # one cause; k=4 leaves room for three needless changes
    result = BlackboxSearch(normal=normal).search(adapter, anomalies, [ConcisenessConstraint(4)])
    assert result.flip_rate == 1.0
    assert [list(c) for c in result.changed] == [[2]] * 8
