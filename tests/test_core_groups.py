"""Feature groups: a budget counted in groups, groups in results, and the size that reaches normal."""

import numpy as np
import pytest
import torch

from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.groups import FeatureGroups, GroupConcisenessConstraint, choose_support, needs_text
from deepaid_sdk.model.adapters import ScoreAdapter

GROUPS = ["a", "a", "a", "b", "b", "c"]


def test_groups_count_and_top():
    groups = FeatureGroups(GROUPS)
    assert groups.labels == ("a", "b", "c") and groups.n_groups == 3 and not groups.trivial
    mask = np.array([[True, True, False, False, False, True], [False] * 6])
    assert groups.count(mask).tolist() == [2, 0]
    assert groups.count(torch.as_tensor(mask)).tolist() == [2, 0]
    effect = torch.tensor([[0.1, 0.1, 0.1, 1.0, 0.0, 0.2]])  # a: 0.3, b: 1.0, c: 0.2
    assert groups.top(effect, 1).tolist() == [[False, False, False, True, True, False]]
    assert groups.top(effect, 2).tolist() == [[True, True, True, True, True, False]]
    assert FeatureGroups.singletons(3, ["x", "y", "z"]).trivial
    with pytest.raises(ValueError, match="expected 6 group names"):
        FeatureGroups.of(["a"] * 5, 6)


def test_group_budget_projects_onto_k_groups():
    c = GroupConcisenessConstraint(1, GROUPS)
    a = torch.zeros(2, 6)
    ref = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 2.5], [0.0, 0.0, 0.0, 0.5, 0.5, 0.0]])
    out = c.project(ref, a)
    assert out[0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]  # group a changes 3.0 in all, c 2.5
    assert torch.equal(out[1], ref[1])  # one group changed: within budget
    assert c.satisfied(out, a).tolist() == [True, True] and c.satisfied(ref, a).tolist() == [False, True]


def test_support_with_a_feature_budget_inside_the_groups():
    c = GroupConcisenessConstraint(1, GROUPS)
    effect = torch.tensor([[0.5, 0.4, 0.3, 1.0, 0.0, 0.0]])
    movable = torch.ones(1, 6, dtype=torch.bool)
    assert choose_support(effect, 2, [c], movable).tolist() == [[True, True, False, False, False, False]]
    assert choose_support(effect, 2, [], movable).tolist() == [[True, False, False, True, False, False]]


def _adapter():
    # Normal only when both groups a (features 0-2) and b (3-4) are near zero; feature 5 is noise.
    adapter = ScoreAdapter(lambda x: (x[:, :5] ** 2).sum(dim=1).sqrt(), threshold=1.0, sample_shape=(6,))
    adapter.feature_groups = tuple(GROUPS)
    return adapter


ROWS = torch.tensor([[2.0, 2.0, 2.0, 2.0, 2.0, 0.5], [0.0, 0.0, 0.0, 3.0, 3.0, 0.5]])


def test_search_with_a_group_budget_changes_at_most_k_groups():
    adapter = _adapter()
    constraints = [*build_constraints(), GroupConcisenessConstraint(2, GROUPS)]
    batch = Interpreter(adapter, GradientSearch(), constraints, L2Distance()).interpret_batch(ROWS)
    assert batch.flipped.all()
    assert [len(item.changed_groups()) for item in batch] == [2, 1]
    assert len(batch.changed[0]) >= 3  # more features than groups: the budget counts groups
    assert batch.records()["changed_groups"][1] == ["b"]
    assert "group" in batch[0].table() and "in 2 groups" in batch[0].table()
    alone = Interpreter(adapter, GradientSearch(), constraints, L2Distance()).interpret_batch(ROWS[1:])
    assert np.allclose(alone.references[0], batch.references[1], atol=1e-6)  # batch invariance


def test_a_budget_too_small_says_the_size_that_reaches_normal():
    adapter = _adapter()
    interp = Interpreter(adapter, GradientSearch(), [*build_constraints(), GroupConcisenessConstraint(1, GROUPS)])
    batch = interp.interpret_batch(ROWS)
    assert batch.flipped.tolist() == [False, True]
    features, groups = batch.needs[0]
    assert groups == 2 and features >= 3
    assert batch.needs[1].tolist() == [-1, -1]
    text = batch[0].needs_text
    assert text == needs_text(int(features), 2) and text.startswith("needs ") and "in 2 groups" in text
    assert batch.records()["needs"] == [text, None]
    assert "the budget is too small" in batch[0].table() and text in batch[0].table()
    assert batch[0].to_dict()["needs"] == [int(features), 2]
    assert batch[1].needs is None and "too small" not in batch[1].table()


def test_needs_text_in_plain_words():
    assert needs_text(21, 5) == "needs 21 features in 5 groups"
    assert needs_text(3, 3) == "needs 3 features" and needs_text(1, None) == "needs 1 feature"
    assert needs_text(2, 1) == "needs 2 features in 1 group"
