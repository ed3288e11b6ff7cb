"""The descent loop holds its live rows as one compact batch: a row's result never depends on which
other rows stopped before it, or on the batch it came in."""

import torch
from torch import nn

from deepaid_sdk import build_constraints
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.search.descent import descend

D = 8


class Bowl(nn.Module):
    """Score = weighted distance from the origin; normal inside a ball."""

    def __init__(self):
        super().__init__()
        self.register_buffer("weight", torch.linspace(0.5, 2.0, D))

    def forward(self, x):
        return (self.weight * x.pow(2)).sum(dim=1).sqrt()


def _run(constraints, x, movable, **options):
    return descend(
        constraints,
        x.clone(),
        x,
        movable,
        torch.ones(1, D),
        lambda t: t,
        steps_budget=options.get("steps", 40),
        lr=0.1,
        patience=options.get("patience", 5),
        optimizer=options.get("optimizer", "adam"),
        per_row=options.get("per_row", False),
        tolerance=options.get("tolerance", 1e-4),
        lr_growth=options.get("lr_growth", 1.1),
        lr_max=options.get("lr_max"),
    )


def test_rows_stop_at_different_steps_and_each_matches_itself_alone():
    adapter = ScoreAdapter(Bowl(), threshold=1.0)
    constraints = [c.bind(adapter, L2Distance()) for c in build_constraints(k=3, lam=0.01, box=(-10, 10))]
    gen = torch.Generator().manual_seed(0)
    # Rows from barely anomalous to far out (some cannot reach the target on 3 features): they stop at
    # different steps, so the live batch shrinks several times during the descent.
    x = torch.randn(12, D, generator=gen) * torch.linspace(0.3, 2.5, 12)[:, None]
    movable = torch.rand(12, D, generator=gen) < 0.5
    grown = {"lr_growth": 1.3, "lr_max": 0.8, "tolerance": 2e-3, "patience": 4}
    for options in ({}, {"per_row": True}, {"optimizer": "sgd", "patience": 3}, grown):
        batch = _run(constraints, x, movable, **options)
        assert len(set(batch.steps.tolist())) > 2, "the rows should stop at different steps"
        for i in range(x.shape[0]):
            alone = _run(constraints, x[i : i + 1], movable[i : i + 1], **options)
            assert int(alone.steps[0]) == int(batch.steps[i])
            assert bool(alone.done[0]) == bool(batch.done[i])
            torch.testing.assert_close(alone.best[0], batch.best[i], atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(alone.grad_sq[0], batch.grad_sq[i], atol=1e-6, rtol=1e-6)
        # Features that may not move stay at the anomaly (inside the box).
        assert bool((batch.best[~movable] == x[~movable]).all())


def _far_rows():
    adapter = ScoreAdapter(Bowl(), threshold=1.0)
    constraints = [c.bind(adapter, L2Distance()) for c in build_constraints(k=D, lam=0.001, box=(-10, 10))]
    x = torch.full((2, D), 3.0) * torch.tensor([[1.0], [1.5]])  # far outside the unit ball
    return constraints, x, torch.ones(2, D, dtype=torch.bool)


def test_a_growing_step_reaches_a_far_target_in_fewer_steps():
    constraints, x, movable = _far_rows()
    plain = _run(constraints, x, movable, steps=200, patience=200)
    grown = _run(constraints, x, movable, steps=200, patience=200, lr_growth=1.3, lr_max=1.6)
    assert bool(plain.done.all()) and bool(grown.done.all())
    assert bool((grown.steps < plain.steps).all()), (grown.steps, plain.steps)


def test_a_stalled_row_stops_before_the_budget_only_with_a_coarse_tolerance():
    adapter = ScoreAdapter(Bowl(), threshold=1.0)
    # One feature may move: the row cannot reach the ball, its objective creeps towards a floor.
    constraints = [c.bind(adapter, L2Distance()) for c in build_constraints(k=1, lam=0.01, box=(-10, 10))]
    x = torch.full((1, D), 2.0)
    movable = torch.zeros(1, D, dtype=torch.bool)
    movable[0, -1] = True
    fine = _run(constraints, x, movable, steps=120, patience=10, tolerance=0.0)
    coarse = _run(constraints, x, movable, steps=120, patience=10, tolerance=0.05)
    assert not bool(fine.done[0]) and not bool(coarse.done[0])
    assert int(coarse.steps[0]) < int(fine.steps[0])
