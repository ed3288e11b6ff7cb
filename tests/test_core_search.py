"""The batched gradient search on small hand-made differentiable detectors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import deepaid_sdk
from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.constraints import BoxConstraint
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.testing import check_adapter, check_search

D = 10


class RadiusDetector(nn.Module):
    """Score = weighted distance from the centre: normal inside the ball."""

    def __init__(self):
        super().__init__()
        self.register_buffer("centre", torch.linspace(-1, 1, D))
        self.register_buffer("weight", torch.linspace(0.5, 1.5, D))

    def forward(self, x):
        return (self.weight * (x - self.centre).pow(2)).sum(dim=1).sqrt()


def anomalies_with_shifts(n=16, shifted=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centre = torch.linspace(-1, 1, D)
    x = centre + 0.1 * torch.randn(n, D, generator=gen)
    truth = torch.zeros(n, D, dtype=torch.bool)
    for i in range(n):
        idx = torch.randperm(D, generator=gen)[:shifted]
        truth[i, idx] = True
    x = x + truth * 3.0
    return x, truth


def make_interpreter(k=3, **search):
    adapter = ScoreAdapter(RadiusDetector(), threshold=1.0)
    return Interpreter(adapter, GradientSearch(**search), build_constraints(k=k), L2Distance())


def test_search_reaches_a_normal_reference_with_at_most_k_changes():
    x, truth = anomalies_with_shifts()
    result = make_interpreter(k=3).interpret_batch(x)
    assert result.flip_rate == 1.0
    mask = result.changed_mask()
    assert mask.sum(axis=1).max() <= 3
    assert (mask == truth.numpy()).all(), "the shifted features are the ones changed"
    assert (result.reference_scores <= 1.0).all() and (result.scores > 1.0).all()


def test_gradient_search_conforms():
    x, _ = anomalies_with_shifts(n=6)
    interp = make_interpreter(k=3)
    check_search(interp.search, interp.adapter, x, interp.constraints, interp.distance)
    check_adapter(interp.adapter, x)


def test_hard_constraints_hold_on_results():
    x, _ = anomalies_with_shifts(n=8)
    x[:, :5] = torch.round(x[:, :5])  # a valid input: the integer features are whole
    adapter = ScoreAdapter(RadiusDetector(), threshold=1.0)
    constraints = build_constraints(k=4, box=(-2.0, 4.5), integer=[0, 1, 2, 3, 4], frozen=[9])
    result = Interpreter(adapter, GradientSearch(steps=500), constraints, L2Distance()).interpret_batch(x)
    refs = result.references
    assert np.all(refs >= -2) and np.all(refs <= 4.5)
    assert np.array_equal(refs[:, :5], np.round(refs[:, :5]))
    assert np.array_equal(refs[:, 9], x[:, 9].numpy())
    assert result.changed_mask().sum(axis=1).max() <= 4


def test_noise_start_is_seeded_and_batch_independent():
    x, _ = anomalies_with_shifts(n=5)
    a = make_interpreter(init_noise=0.05, seed=3).interpret_batch(x)
    b = make_interpreter(init_noise=0.05, seed=3).interpret_batch(x)
    assert np.array_equal(a.references, b.references)
    single = make_interpreter(init_noise=0.05, seed=3).interpret(x[2])
    assert set(single.changed.tolist()) == set(a[2].changed.tolist())


def test_already_normal_rows_come_back_unchanged_and_flipped():
    x, _ = anomalies_with_shifts(n=4)
    normal = torch.linspace(-1, 1, D)[None]
    result = make_interpreter().interpret_batch(torch.cat([x[:2], normal, x[2:]]))
    assert len(result) == 5
    assert result[2].changed.size == 0 and result[2].flipped and result[2].steps == 0
    assert np.array_equal(result.anomalies[3], x[2].numpy())
    assert result.flip_rate == 1.0


def test_reconstruction_start_on_an_autoencoder():
    torch.manual_seed(0)
    proj = torch.linalg.qr(torch.randn(D, 3))[0]

    class LinearAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(D, D, bias=False)
            self.lin.weight.data = proj @ proj.T

        def forward(self, x):
            return self.lin(x)

    normal = torch.randn(500, 3) @ proj.T
    adapter = ReconstructionAdapter(LinearAE(), sample_shape=(D,))
    threshold = adapter.calibrate(normal + 0.01 * torch.randn(500, D), 99)
    anomalies = normal[:20].clone()
    anomalies[:, 0] += 2.0
    for start in ("anomaly", "reconstruction", "both"):
        result = Interpreter(
            adapter, GradientSearch(start=start), build_constraints(k=2), L2Distance()
        ).interpret_batch(anomalies)
        assert result.flip_rate == 1.0, start
        assert result.threshold == threshold
    with pytest.raises(ValueError, match="no reconstruction"):
        Interpreter(
            ScoreAdapter(RadiusDetector(), threshold=1.0),
            GradientSearch(start="reconstruction"),
            build_constraints(k=2),
            L2Distance(),
        ).interpret_batch(anomalies_with_shifts(2)[0])


def test_sgd_optimiser_also_works():
    x, _ = anomalies_with_shifts(n=4)
    assert make_interpreter(optimizer="sgd", lr=0.05).interpret_batch(x).flip_rate == 1.0


def test_changed_are_ordered_most_important_first():
    adapter = ScoreAdapter(RadiusDetector(), threshold=1.0)
    x = torch.linspace(-1, 1, D)[None].clone()
    x[0, 2] += 1.0
    x[0, 7] += 6.0
    result = Interpreter(adapter, GradientSearch(), build_constraints(k=2), L2Distance()).interpret(x[0])
    assert result.changed[0] == 7


def test_create_gradient_preset_by_name():
    interp = deepaid_sdk.create("gradient", model=RadiusDetector(), threshold=1.0, k=3, sample_shape=(D,))
    x, truth = anomalies_with_shifts(n=4)
    assert interp.interpret_batch(x).flip_rate == 1.0
    with pytest.raises(ValueError, match=r"k: expected at most the number of features \(10\); got 11"):
        deepaid_sdk.create("gradient", model=RadiusDetector(), threshold=1.0, k=11, sample_shape=(D,))


class CategoryDetector(nn.Module):
    """Two numeric features and a 4-way one-hot category; category 0 is the only normal one."""

    def forward(self, x):
        numeric = x[:, :2].pow(2).sum(dim=1)
        category = 4 * (1 - x[:, 2])
        return numeric + category


def test_onehot_features_stay_one_hot_and_flip():
    adapter = ScoreAdapter(CategoryDetector(), threshold=1.0, sample_shape=(6,), device="cpu")
    x = torch.tensor([[0.1, 0.2, 0, 0, 1, 0], [0.3, 0.1, 0, 1, 0, 0]], dtype=torch.float32)
    interp = Interpreter(
        adapter, GradientSearch(steps=500, lr=0.2), build_constraints(k=2, onehot=[[2, 3, 4, 5]]), L2Distance()
    )
    result = interp.interpret_batch(x)
    assert result.flip_rate == 1.0
    assert np.array_equal(result.references[:, 2:], np.array([[1, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32))
    assert np.array_equal(result.references[:, :2], x[:, :2].numpy())


@settings(max_examples=15, deadline=None)
@given(st.sets(st.integers(0, D - 1), min_size=1, max_size=3), st.floats(2.0, 6.0), st.integers(1, 4))
def test_any_planted_shift_is_explained_within_k(shifted, size, k):
    centre = torch.linspace(-1, 1, D)
    x = centre.clone()
    x[sorted(shifted)] += size
    result = make_interpreter(k=max(k, len(shifted))).interpret(x)
    assert result.flipped
    # Each planted shift alone scores at least sqrt(0.5 * 2**2) > 1, so every one must be undone, and
    # no other feature can lower the score: the changes are exactly the planted features, listed once.
    assert sorted(result.changed.tolist()) == sorted(shifted)
    assert np.flatnonzero(result.reference != x.numpy()).tolist() == sorted(shifted)
    assert RadiusDetector()(torch.as_tensor(result.reference)[None]).item() <= 1.0


class CentreAE(nn.Module):
    """Reconstructs every feature as the centre but the last, which it passes through (so it never errs there)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("centre", torch.linspace(-1, 1, D))

    def forward(self, x):
        out = self.centre.expand_as(x).clone()
        out[:, -1] = x[:, -1]
        return out


def test_a_feature_outside_the_box_the_reference_leaves_alone_needs_no_descent():
    # Feature 9 lies far outside the box and the detector never errs on it. The residual start
    # changes only the shifted features and is normal: it must be kept as it is (no descent),
    # not sent down a descent that can never repair the anomaly's own value on feature 9.
    x, truth = anomalies_with_shifts(n=4)
    x[:, 9] = 50.0
    truth[:, 9] = False
    adapter = ReconstructionAdapter(CentreAE(), sample_shape=(D,))
    adapter.threshold = 1.0
    constraints = [*build_constraints(k=3), BoxConstraint(-5.0, 5.0, changed_only=True)]
    result = Interpreter(adapter, GradientSearch(), constraints, L2Distance()).interpret_batch(x)
    assert result.flip_rate == 1.0
    assert (result.steps == 0).all()
    assert np.array_equal(result.references[:, 9], x[:, 9].numpy())
    changed = result.changed_mask()
    assert changed.any(axis=1).all() and not (changed & ~truth.numpy()).any(), "only shifted features change"
