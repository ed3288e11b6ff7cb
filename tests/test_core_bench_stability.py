"""The stability and robustness columns of the benches (``deepaid_sdk.bench.stability``)."""

import attrs
import numpy as np
import pytest
import torch
from torch import nn

from deepaid_sdk.bench.correlated import as_counts, correlated_manifold
from deepaid_sdk.bench.stability import (
    noised,
    random_perturbation,
    residual_attack,
    robustness_rows,
    stability_rows,
)
from deepaid_sdk.constraints import BoxConstraint
from deepaid_sdk.model.adapters import ReconstructionAdapter
from deepaid_sdk.results import InterpretationBatch

D = 8


class Shrink(nn.Module):
    """Reconstruction = the input pulled halfway to 0.5: the residual grows with the distance from 0.5."""

    def forward(self, x):
        return 0.5 * x + 0.25


def _adapter() -> ReconstructionAdapter:
    return ReconstructionAdapter(Shrink(), 0.1, sample_shape=(D,), device="cpu")


def _alerts(n=24, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 0.5 + 0.02 * rng.standard_normal((n, D))
    x[:, :3] += np.array([0.9, 0.6, 0.3])  # three clear causes, of distinct sizes
    return x.astype(np.float32)


def _top_residual(k: int):
    adapter = _adapter()

    def explain(x: np.ndarray) -> InterpretationBatch:
        t = torch.as_tensor(x)
        rec = adapter.reconstruct(t)
        order = (rec - t).abs().topk(k, dim=1).indices.numpy()
        refs = x.copy()
        np.put_along_axis(refs, order, np.take_along_axis(rec.detach().numpy(), order, axis=1), axis=1)
        n = len(x)
        return InterpretationBatch(
            anomalies=x,
            references=refs,
            changed=tuple(order),
            scores=np.ones(n),
            reference_scores=np.zeros(n),
            flipped=np.ones(n, dtype=bool),
            steps=np.zeros(n, dtype=np.int64),
            threshold=adapter.threshold,
            seconds=0.0,
            method="top-residual",
            params={},
        )

    return explain


def _random_set(k: int):
    """An explainer whose set depends on the input's last bits: unstable under any noise."""
    base = _top_residual(k)

    def explain(x: np.ndarray) -> InterpretationBatch:
        batch = base(x)
        seeds = (np.abs(x).sum(axis=1) * 1e6).astype(np.int64)
        changed = tuple(np.random.default_rng(int(s)).choice(D, k, replace=False) for s in seeds)
        return attrs.evolve(batch, changed=changed)

    return explain


def test_a_clear_explanation_is_stable_and_a_random_one_is_not():
    adapter, x = _adapter(), _alerts()
    rows = stability_rows(
        adapter, lambda k: {"top": _top_residual(k), "random": _random_set(k)}, x, [2], stds=[0.01], quiet=True
    )
    by_method = {r[1]: r for r in rows}
    assert by_method["top"][3] == len(x)  # every noisy copy is still an alert
    assert by_method["top"][4] == pytest.approx(1.0)
    assert by_method["random"][4] < 0.6
    assert by_method["top"][5] == pytest.approx(2.0)


def test_noisy_copies_that_are_no_longer_alerts_are_left_out_and_the_box_holds():
    adapter, x = _adapter(), _alerts()
    x[:4] = 0.5  # normal rows: not alerts, clean or noised
    noisy, still = noised(adapter, x, 0.01, seed=3, valid=[BoxConstraint(0.0, 1.0)])
    assert not still[:4].any() and still[4:].all()
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert np.abs(noisy - np.clip(x, 0, 1)).max() < 0.1
    with pytest.raises(ValueError, match="std"):
        noised(adapter, x, 0.0, seed=0)


def test_the_attack_stays_within_its_size_keeps_alerts_and_moves_the_residual():
    adapter, x = _adapter(), torch.as_tensor(_alerts())
    named = torch.zeros_like(x, dtype=torch.bool)
    named[:, 0] = True
    moved = residual_attack(adapter, x, named, 0.03)
    assert (moved - x).abs().max() <= 0.03 + 1e-6
    assert not adapter.is_normal(moved).any()
    # the named feature's residual shrinks, the others' grow
    res = lambda t: (adapter.reconstruct(t) - t).abs()  # noqa: E731
    assert bool((res(moved)[:, 0] < res(x)[:, 0]).all()) and bool((res(moved)[:, 1:] > res(x)[:, 1:]).all())
    noise = random_perturbation(x, 0.03, 0, adapter)
    assert torch.allclose((noise - x).abs(), torch.full_like(x, 0.03), atol=1e-6)


def test_robustness_rows_measure_each_method_on_its_own_attack():
    adapter, x = _adapter(), _alerts()
    rows = robustness_rows(adapter, {"top": _top_residual(2), "random": _random_set(2)}, x, 2)
    by_method = {r[1]: r for r in rows}
    assert by_method["top"][4] == pytest.approx(1.0) and by_method["top"][5] == pytest.approx(1.0)
    assert by_method["random"][4] < 0.6


def test_count_rows_are_whole_numbers_in_range_with_the_truth_kept():
    data = correlated_manifold(12, 2, 2, n_normal=200, n_candidates=50, seed=1)
    counts = as_counts(data, 3)
    for rows in (counts.normal, counts.candidates):
        assert np.array_equal(rows, np.rint(rows)) and rows.min() >= 0 and rows.max() <= 3
    assert np.array_equal(counts.truth, data.truth) and counts.config["counts"] == 3
    with pytest.raises(ValueError, match="top"):
        as_counts(data, 0)
