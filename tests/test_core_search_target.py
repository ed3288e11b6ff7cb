"""The search's target (typically normal vs just below the threshold), pruning and ranking, batch invariance."""

import numpy as np
import pytest
import torch
from torch import nn

from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.search.ranking import _changed_lists, prune_and_rank, rank_changes, undo_scores
from deepaid_sdk.testing import check_batch_invariance

D = 8


class SumOfSquares(nn.Module):
    """Score = sqrt(sum of squares): every shifted feature adds to it; the origin is the most normal."""

    def forward(self, x):
        return x.pow(2).sum(dim=1).add(1e-12).sqrt()


def four_causes(n=6):
    """Rows whose four shifted features each raise the score, alerts just above a threshold of 2."""
    x = torch.zeros(n, D)
    x[:, :4] = torch.tensor([1.2, 1.1, 1.0, 0.9])
    return x


def adapter_with_normal_scores():
    adapter = ScoreAdapter(SumOfSquares(), threshold=2.0, sample_shape=(D,), device="cpu")
    gen = torch.Generator().manual_seed(0)
    adapter.observe_normal(0.3 * torch.randn(2000, D, generator=gen))  # median score ~0.8
    return adapter


def test_typical_target_keeps_every_cause_the_strict_minimum_drops_some():
    adapter = adapter_with_normal_scores()
    x = four_causes()
    assert bool((adapter.score(x) > 2.0).all())
    typical = Interpreter(adapter, GradientSearch(), build_constraints(k=4), L2Distance()).interpret_batch(x)
    strict = Interpreter(
        adapter, GradientSearch(target="threshold"), build_constraints(k=4), L2Distance()
    ).interpret_batch(x)
    assert typical.flip_rate == strict.flip_rate == 1.0
    assert all(sorted(c.tolist()) == [0, 1, 2, 3] for c in typical.changed), "all four causes are named"
    assert max(len(c) for c in strict.changed) < 4, "just below the threshold needs fewer changes"
    target = typical.params["target_score"]
    assert target == pytest.approx(adapter.normal_score_quantile(0.9))
    assert (typical.reference_scores <= target + 1e-6).all()


def test_without_normal_scores_the_target_is_a_margin_below_the_threshold():
    adapter = ScoreAdapter(SumOfSquares(), threshold=2.0, sample_shape=(D,), device="cpu")
    assert not adapter.knows_normal_scores and adapter.normal_score_quantile(0.5) is None
    search = GradientSearch(margin=0.3)
    assert search.target_score(adapter) == pytest.approx(2.0 * 0.7)
    assert GradientSearch(target="threshold").target_score(adapter, eps=0.1) == pytest.approx(1.9)
    with pytest.raises(ValueError, match="target: expected one of"):
        GradientSearch(target="median")
    with pytest.raises(ValueError, match="quantile"):
        GradientSearch(quantile=1.5)


def test_pruning_keeps_only_needed_changes_and_ranks_by_rise():
    adapter = ScoreAdapter(SumOfSquares(), threshold=2.0, sample_shape=(D,), device="cpu")
    x = torch.zeros(3, D)
    x[:, :5] = torch.tensor([3.0, 0.2, 2.0, 0.1, 1.0])
    refs = torch.zeros(3, D)  # every shifted feature set back: five changes
    bar = 1.5
    pruned, changed = prune_and_rank(adapter, [], x, refs, bar)
    scores = adapter.score(pruned)
    assert bool((scores <= bar).all())
    assert len(changed) == 3
    for row, order in zip(range(3), changed):
        # ranked by how much undoing each raises the score: the biggest shift first
        assert order.tolist()[:2] == [0, 2]
        index, _ = _changed_lists(pruned[row : row + 1] != x[row : row + 1])
        undo = undo_scores(adapter, x[row : row + 1], pruned[row : row + 1], index)
        assert bool((undo > bar).all()), "every remaining change is needed to stay at the bar"
    assert rank_changes(adapter, x, pruned)[0].tolist() == changed[0].tolist()


def test_protected_changes_are_never_undone():
    adapter = ScoreAdapter(SumOfSquares(), threshold=2.0, sample_shape=(D,), device="cpu")
    x = torch.zeros(2, D)
    x[:, :3] = torch.tensor([3.0, 0.3, 0.2])
    refs = torch.zeros(2, D)
    protected = torch.zeros(2, D, dtype=torch.bool)
    protected[:, 2] = True
    _, changed = prune_and_rank(adapter, [], x, refs, 1.5, protected=protected)
    assert all(2 in c.tolist() for c in changed)
    assert all(1 not in c.tolist() for c in changed), "an unprotected small change is still undone"
    _, shared = prune_and_rank(adapter, [], x, refs, 1.5, keep_share=0.05)
    assert all(set(c.tolist()) >= {0, 1} for c in shared), "a change a twentieth as strong as the main one stays"


class LowRankAE(nn.Module):
    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        basis = torch.linalg.qr(torch.randn(D, 3, generator=gen))[0]
        self.register_buffer("p", basis @ basis.T)

    def forward(self, x):
        return torch.tanh(x @ self.p) * 1.05


def test_a_rows_result_does_not_depend_on_its_batch_even_with_no_budget():
    torch.manual_seed(0)
    adapter = ReconstructionAdapter(LowRankAE(), sample_shape=(D,))
    normal = torch.randn(400, 3) @ torch.linalg.qr(torch.randn(D, 3))[0].T * 0.3
    adapter.calibrate(normal, 99.0)
    x = normal[:40].clone()
    x[:, ::3] += 1.5
    for k in (None, 2):
        # a short step budget keeps it quick; the rows that descend still cross chunks of 512
        search = GradientSearch(chunk_rows=512, steps=20, patience=5)
        check_batch_invariance(search, adapter, x, build_constraints(k=k), L2Distance(), rows=10_000, probes=3)


def test_scale_must_match_the_width_and_be_positive():
    adapter = adapter_with_normal_scores()
    with pytest.raises(ValueError, match="scale: expected positive"):
        GradientSearch(scale=[1.0, 0.0])
    interp = Interpreter(adapter, GradientSearch(scale=np.ones(D + 1)), build_constraints(k=2), L2Distance())
    with pytest.raises(ValueError, match=f"scale: has {D + 1} values; the samples have {D} features"):
        interp.interpret_batch(four_causes(2))
