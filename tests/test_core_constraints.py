"""Properties of every built-in constraint (hypothesis) and the conformance suite on each."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deepaid_sdk.constraints import (
    BoxConstraint,
    ConcisenessConstraint,
    FidelityConstraint,
    FrozenConstraint,
    IntegerConstraint,
    OneHotConstraint,
    StabilityConstraint,
    project_all,
)
from deepaid_sdk.testing import check_constraint

WIDTH = 12
finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)
batches = arrays(np.float32, st.tuples(st.integers(1, 6), st.just(WIDTH)), elements=finite)


def _pair(data):
    refs, shift = data
    return torch.as_tensor(refs), torch.as_tensor(refs) + torch.as_tensor(shift[: len(refs)])


pairs = st.tuples(batches, arrays(np.float32, (6, WIDTH), elements=finite))


def _hard_properties(c, ref, anomaly):
    out = c.project(ref, anomaly)
    assert out.shape == ref.shape
    assert bool(c.satisfied(out, anomaly).all())
    assert torch.equal(c.project(out, anomaly), out), "projection is idempotent"
    return out


@settings(max_examples=60, deadline=None)
@given(pairs, st.integers(1, WIDTH))
def test_conciseness_never_changes_more_than_k(data, k):
    ref, anomaly = _pair(data)
    out = _hard_properties(ConcisenessConstraint(k), ref, anomaly)
    assert int(((out - anomaly) != 0).sum(dim=1).max()) <= k
    kept = out != anomaly
    assert torch.equal(out[kept], ref[kept]), "kept features keep their values"


@settings(max_examples=60, deadline=None)
@given(pairs, st.integers(1, WIDTH))
def test_conciseness_leaves_feasible_rows_unchanged(data, k):
    ref, anomaly = _pair(data)
    few = torch.where(torch.arange(WIDTH) < k, ref, anomaly)
    assert torch.equal(ConcisenessConstraint(k).project(few, anomaly), few)


@settings(max_examples=60, deadline=None)
@given(pairs, st.floats(-50, 0), st.floats(0, 50))
def test_box_never_leaves_bounds(data, low, high):
    ref, anomaly = _pair(data)
    c = BoxConstraint(low, high)
    out = _hard_properties(c, ref, anomaly)
    assert bool(((out >= low) & (out <= high)).all())
    inside = ref.clamp(low, high)
    assert torch.equal(c.project(inside, anomaly), inside)


def test_box_accepts_a_feature_left_at_the_anomalys_own_value():
    # The anomaly is outside the box on feature 0; a reference that keeps that value is no less a
    # possible input than the anomaly itself, one that moves it elsewhere outside the box is not.
    box = BoxConstraint(0.0, 1.0, changed_only=True)
    anomaly = torch.tensor([[3.0, 0.5, 0.5]])
    kept = torch.tensor([[3.0, 0.2, 0.9]])
    moved = torch.tensor([[2.0, 0.2, 0.9]])
    changed_out = torch.tensor([[3.0, 1.5, 0.5]])
    assert box.satisfied(kept, anomaly).tolist() == [True]
    assert box.satisfied(moved, anomaly).tolist() == [False]
    assert box.satisfied(changed_out, anomaly).tolist() == [False]
    # The strict box (the default) asks every feature to lie inside, the kept one too.
    assert BoxConstraint(0.0, 1.0).satisfied(kept, anomaly).tolist() == [False]


@settings(max_examples=60, deadline=None)
@given(pairs, st.lists(st.integers(0, WIDTH - 1), max_size=WIDTH))
def test_integer_dims_become_whole_and_others_stay(data, dims):
    ref, anomaly = _pair(data)
    c = IntegerConstraint(dims)
    out = _hard_properties(c, ref, anomaly)
    idx = sorted(set(dims))
    assert torch.equal(out[:, idx], torch.round(out[:, idx]))
    others = [i for i in range(WIDTH) if i not in idx]
    assert torch.equal(out[:, others], ref[:, others])


@settings(max_examples=60, deadline=None)
@given(pairs, st.lists(st.integers(0, WIDTH - 1), min_size=1, max_size=WIDTH))
def test_frozen_dims_never_change(data, dims):
    ref, anomaly = _pair(data)
    c = FrozenConstraint(dims)
    out = _hard_properties(c, ref, anomaly)
    idx = sorted(set(dims))
    assert torch.equal(out[:, idx], anomaly[:, idx])
    assert not bool(c.changeable(anomaly)[:, idx].any())


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 5), st.just(12)), elements=finite))
def test_onehot_groups_stay_one_hot(values):
    groups = [[0, 1, 2], [3, 4, 5, 6], [7], [8, 9, 10, 11]]
    c = OneHotConstraint(groups)
    ref = torch.as_tensor(values)
    out = _hard_properties(c, ref, ref)
    for g in groups:
        assert torch.equal(out[:, g].sum(dim=1), torch.ones(len(out)))
        assert bool(((out[:, g] == 0) | (out[:, g] == 1)).all())
        # the hot position is the largest value of the group
        assert torch.equal(out[:, g].argmax(dim=1), ref[:, g].argmax(dim=1))


def test_onehot_rows_helper_and_feasible_unchanged():
    c = OneHotConstraint.rows(3, 4)
    onehot = torch.nn.functional.one_hot(torch.tensor([[0, 3, 1]]), 4).float().reshape(1, 12)
    assert torch.equal(c.project(onehot, onehot), onehot)
    assert bool(c.satisfied(onehot, onehot).all())
    assert not bool(c.satisfied(onehot * 0.5, onehot).any())


def test_projection_order_keeps_every_hard_constraint():
    anomaly = torch.tensor([[5.0, 5.0, 5.0, 5.0]])
    ref = torch.tensor([[0.4, 1.6, 9.0, -3.0]])
    cs = [ConcisenessConstraint(2), BoxConstraint(0, 6), IntegerConstraint([0, 1]), FrozenConstraint([3])]
    out = project_all(cs, ref, anomaly)
    for c in cs:
        assert bool(c.satisfied(out, anomaly).all()), c.name


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConcisenessConstraint(3),
        lambda: BoxConstraint(-1, 1),
        lambda: IntegerConstraint([0, 2, 5]),
        lambda: FrozenConstraint([1, 4]),
        lambda: OneHotConstraint([[0, 1], [2, 3, 4]]),
        lambda: StabilityConstraint(0.1),
    ],
)
def test_builtin_constraints_pass_conformance(make):
    check_constraint(make(), sample_shape=(8,))


def test_constraints_work_on_windows():
    check_constraint(FrozenConstraint(list(range(8))), sample_shape=(3, 4))
    check_constraint(ConcisenessConstraint(2), sample_shape=(3, 4))


def test_fidelity_needs_binding_and_measures_margin():
    from deepaid_sdk.distances import L2Distance
    from deepaid_sdk.model.adapters import ScoreAdapter

    adapter = ScoreAdapter(lambda x: x.abs().sum(dim=1), threshold=1.0, eps=0.1, device="cpu")
    with pytest.raises(ValueError, match="not bound"):
        FidelityConstraint().penalty(torch.zeros(1, 2), torch.zeros(1, 2))
    c = FidelityConstraint().bind(adapter, L2Distance())
    x = torch.tensor([[0.5, 0.0], [0.95, 0.0], [2.0, 0.0]])
    assert c.satisfied(x, x).tolist() == [True, False, False]
    assert torch.allclose(c.penalty(x, x), torch.tensor([0.0, 0.05, 1.1]))
    check_constraint(FidelityConstraint(), sample_shape=(2,), adapter=adapter)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: BoxConstraint([0, 5], [1, 2]), "min > max"),
        (lambda: BoxConstraint([0, 0, 0], [1, 1]), "lengths differ"),
        (lambda: ConcisenessConstraint(0), "k"),
        (lambda: FrozenConstraint(None), "dims"),
        (lambda: OneHotConstraint([[0, 1], [1, 2]]), "more than one group"),
        (lambda: IntegerConstraint([-1]), "dims"),
        (lambda: StabilityConstraint(-1.0), "lam"),
    ],
)
def test_constraint_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()
