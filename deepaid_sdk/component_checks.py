"""The check of each kind of component: constraints, distances, adapters, searches (``deepaid_sdk.testing``
is where users import them, with ``check_plugin``).

Each ``check_*`` function raises ``AssertionError`` with a message naming the broken property.
Call them from a plugin's tests with real data of the plugin's domain::

    from deepaid_sdk.testing import check_constraint
    def test_my_constraint_conforms():
        check_constraint(MyConstraint(...), sample_shape=(20,))
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search import ReferenceSearch

#: Rows of the large batch of ``check_batch_invariance``: more than any internal chunk of ours.
INVARIANCE_ROWS = 10_000


def _random(shape: Sequence[int], seed: int, batch: int = 8) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *shape, generator=gen)


def _close(a: Tensor, b: Tensor, what: str, atol: float = 1e-5) -> None:
    assert a.shape == b.shape, f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}"
    assert torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4), f"{what}: values differ"


def _changed_set(changed: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(np.atleast_1d(c).tolist()) for c in changed}


def check_constraint(
    constraint: Constraint,
    sample_shape: Sequence[int],
    *,
    refs: Tensor | None = None,
    anomalies: Tensor | None = None,
    adapter: ModelAdapter | None = None,
    distance: Distance | None = None,
    seed: int = 0,
) -> None:
    """Shapes, ``satisfied`` after ``project``, idempotence, feasible points unchanged, rows independent."""
    name = type(constraint).__name__
    anomalies = _random(sample_shape, seed) if anomalies is None else anomalies
    refs = anomalies + _random(sample_shape, seed + 1, anomalies.shape[0]) if refs is None else refs
    if adapter is not None:
        from deepaid_sdk.distances import L2Distance

        constraint = constraint.bind(adapter, distance or L2Distance())
    b = refs.shape[0]
    penalty = constraint.penalty(refs, anomalies)
    assert penalty.shape == (b,), f"{name}.penalty: expected shape [{b}]; got {tuple(penalty.shape)}"
    assert bool(torch.isfinite(penalty).all()) and bool((penalty >= 0).all()), f"{name}.penalty: not finite and >= 0"
    ok = constraint.satisfied(refs, anomalies)
    assert ok.shape == (b,) and ok.dtype == torch.bool, (
        f"{name}.satisfied: expected bool [{b}]; got {ok.dtype} {tuple(ok.shape)}"
    )
    projected = constraint.project(refs, anomalies)
    assert projected.shape == refs.shape, f"{name}.project: changed the shape"
    assert projected.device == refs.device, f"{name}.project: changed the device"
    if constraint.hard:
        assert bool(constraint.satisfied(projected, anomalies).all()), f"{name}: project() output does not satisfy it"
        _close(constraint.project(projected, anomalies), projected, f"{name}.project is not idempotent")
    else:
        _close(projected, refs, f"{name}: a soft constraint's project must be the identity")
    feasible = ok.nonzero().flatten()
    if feasible.numel():
        _close(
            constraint.project(refs[feasible], anomalies[feasible]),
            refs[feasible],
            f"{name}.project changed rows that were already feasible",
        )
    single = torch.cat([constraint.project(refs[i : i + 1], anomalies[i : i + 1]) for i in range(b)])
    _close(single, projected, f"{name}.project: a row's result depends on the batch")
    mask = constraint.changeable(anomalies)
    if mask is not None:
        assert mask.shape == (b, int(np.prod(sample_shape))) and mask.dtype == torch.bool, (
            f"{name}.changeable: expected bool [B, N]; got {mask.dtype} {tuple(mask.shape)}"
        )


def check_distance(
    distance: Distance,
    sample_shape: Sequence[int],
    *,
    seed: int = 0,
    a: Tensor | None = None,
    b: Tensor | None = None,
    c: Tensor | None = None,
    metric: bool = True,
) -> None:
    """Non-negative, zero on equal inputs, symmetric, rows independent; triangle inequality if ``metric``."""
    name = type(distance).__name__
    a = _random(sample_shape, seed) if a is None else a
    b = _random(sample_shape, seed + 1, a.shape[0]) if b is None else b
    c = _random(sample_shape, seed + 2, a.shape[0]) if c is None else c
    d_ab = distance(a, b)
    assert d_ab.shape == (a.shape[0],), f"{name}: expected shape [{a.shape[0]}]; got {tuple(d_ab.shape)}"
    assert bool((d_ab >= 0).all()), f"{name}: negative distance"
    assert bool((distance(a, a) == 0).all()), f"{name}: d(a, a) != 0"
    _close(d_ab, distance(b, a), f"{name}: not symmetric")
    if metric:
        assert bool((distance(a, c) <= d_ab + distance(b, c) + 1e-4).all()), f"{name}: triangle inequality fails"
    single = torch.cat([distance(a[i : i + 1], b[i : i + 1]) for i in range(a.shape[0])])
    _close(single, d_ab, f"{name}: a row's distance depends on the batch")


def check_adapter(adapter: ModelAdapter, batch: Any, *, atol: float = 1e-4) -> None:
    """Scores ``[B]`` finite on the adapter's device, verdicts agree with the threshold, rows independent."""
    name = type(adapter).__name__
    x = adapter.prepare(batch, "batch")
    b = x.shape[0]
    assert x.device == adapter.device, f"{name}.prepare: batch not on the adapter's device"
    with torch.no_grad():
        scores = adapter.score(x)
        assert scores.shape == (b,), f"{name}.score: expected shape [{b}]; got {tuple(scores.shape)}"
        assert bool(torch.isfinite(scores).all()), f"{name}.score: not finite"
        normal = adapter.is_normal(x)
        assert normal.dtype == torch.bool and normal.shape == (b,), f"{name}.is_normal: expected bool [{b}]"
        assert bool((normal == (scores <= adapter.threshold)).all()), f"{name}.is_normal disagrees with the threshold"
        loss = adapter.fidelity_loss(x)
        assert bool((loss >= 0).all()), f"{name}.fidelity_loss: negative"
        assert bool((loss[scores <= adapter.threshold - adapter.eps] == 0).all()), (
            f"{name}.fidelity_loss: not zero for rows normal with margin"
        )
        single = torch.cat([adapter.score(x[i : i + 1]) for i in range(b)])
        _close(single, scores, f"{name}.score: a row's score depends on the batch", atol=atol)
        rec = adapter.reconstruct(x)
        if rec is not None:
            assert rec.shape == x.shape, f"{name}.reconstruct: expected shape {tuple(x.shape)}; got {tuple(rec.shape)}"


def check_search(
    search: ReferenceSearch,
    adapter: ModelAdapter,
    anomalies: Any,
    constraints: Sequence[Constraint] = (),
    distance: Distance | None = None,
    *,
    single_rows: int = 3,
    batch_rows: int = INVARIANCE_ROWS,
) -> InterpretationBatch:
    """Results line up with inputs, hard constraints hold, verdicts are the model's, batch equals single.

    ``batch_rows``: also run ``check_batch_invariance`` on a batch of that many rows (at least
    ``INVARIANCE_ROWS``, so it crosses every internal chunk of our searches); 0 where the same
    search was already held to it in another call of the same test module.
    """
    name = type(search).__name__
    x = adapter.prepare(anomalies, "anomalies")
    result = search.search(adapter, x, constraints, distance)
    assert isinstance(result, InterpretationBatch), f"{name}.search: expected an InterpretationBatch"
    assert len(result) == x.shape[0], f"{name}.search: {len(result)} results for {x.shape[0]} anomalies"
    assert result.references.shape == tuple(x.shape), f"{name}: references have shape {result.references.shape}"
    np.testing.assert_array_equal(result.anomalies, x.cpu().numpy(), err_msg=f"{name}: anomalies altered")
    refs = adapter.prepare(result.references, "references")
    with torch.no_grad():
        verdict = adapter.is_normal(refs).cpu().numpy()
    np.testing.assert_array_equal(result.flipped, verdict, err_msg=f"{name}: flipped is not the model's verdict")
    from deepaid_sdk.distances import L2Distance

    bound = [c.bind(adapter, distance or L2Distance()) for c in constraints]
    for c in bound:
        if c.hard:
            assert bool(c.satisfied(refs, x).all()), f"{name}: hard constraint {c.name} violated by a reference"
    diff = result.references != result.anomalies
    np.testing.assert_array_equal(result.changed_mask(), diff, err_msg=f"{name}: changed does not match the difference")
    for item in result:
        assert isinstance(item.reference, np.ndarray), f"{name}: references must be numpy arrays"
    for i in range(min(single_rows, len(result))):
        one = search.search(adapter, x[i : i + 1], constraints, distance)[0]
        assert _changed_set(one.changed) == _changed_set(result[i].changed), (
            f"{name}: row {i} changes different features alone than in a batch"
        )
    if batch_rows:
        if batch_rows < INVARIANCE_ROWS:
            raise ValueError(f"batch_rows: expected 0 or at least {INVARIANCE_ROWS}; got {batch_rows}")
        check_batch_invariance(search, adapter, x, constraints, distance, rows=batch_rows)
    return result


def check_batch_invariance(
    search: ReferenceSearch,
    adapter: ModelAdapter,
    anomalies: Any,
    constraints: Sequence[Constraint] = (),
    distance: Distance | None = None,
    *,
    rows: int = INVARIANCE_ROWS,
    probes: int = 4,
    atol: float = 1e-5,
) -> None:
    """A row's result never depends on the batch: the same rows alone and inside a large batch agree.

    The anomalies are tiled to ``rows`` rows (so copies of each sit in different internal chunks
    among other rows); for ``probes`` of them, the changed features *and their order*, the
    reference (within ``atol``), the reference score and the verdict of every copy must equal
    those of the row searched alone.
    """
    name = type(search).__name__
    x = adapter.prepare(anomalies, "anomalies")
    n = x.shape[0]
    reps = -(-int(rows) // n)
    big = x.repeat(reps, *([1] * (x.ndim - 1)))
    result = search.search(adapter, big, constraints, distance)
    assert len(result) == big.shape[0], f"{name}: {len(result)} results for {big.shape[0]} rows"
    for i in np.linspace(0, n - 1, min(probes, n)).round().astype(int):
        alone = search.search(adapter, x[i : i + 1], constraints, distance)
        want = [tuple(np.atleast_1d(c).tolist()) for c in alone.changed[0]]
        for r in sorted({0, reps // 2, reps - 1}):
            j = int(i + r * n)
            got = [tuple(np.atleast_1d(c).tolist()) for c in result.changed[j]]
            assert got == want, (
                f"{name}: row {i} changes {want} alone but {got} at position {j} of a batch of {big.shape[0]}"
            )
            np.testing.assert_allclose(
                np.asarray(result.references[j], dtype=np.float64),
                np.asarray(alone.references[0], dtype=np.float64),
                atol=atol,
                rtol=1e-5,
                err_msg=f"{name}: row {i}'s reference differs at position {j} of the batch",
            )
            assert bool(result.flipped[j]) == bool(alone.flipped[0]), (
                f"{name}: row {i}'s verdict differs at position {j} of the batch"
            )
