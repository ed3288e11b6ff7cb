"""Properties of every built-in distance."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deepaid_sdk.distances import BUILTIN_DISTANCES, HammingDistance, L0Distance, L1Distance, L2Distance, LinfDistance
from deepaid_sdk.testing import check_distance

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)
triples = arrays(np.float32, st.tuples(st.just(3), st.integers(1, 4), st.integers(1, 10)), elements=finite)


@pytest.mark.parametrize("cls", BUILTIN_DISTANCES)
@settings(max_examples=40, deadline=None)
@given(data=triples)
def test_distance_is_a_metric(cls, data):
    a, b, c = (torch.as_tensor(data[i]) for i in range(3))
    d = cls()
    ab, ba = d(a, b), d(b, a)
    assert bool((ab >= 0).all())
    assert bool((d(a, a) == 0).all())
    assert torch.allclose(ab, ba)
    scale = 1e-4 * (1 + ab.abs() + d(b, c).abs())
    assert bool((d(a, c) <= ab + d(b, c) + scale).all()), "triangle inequality"


@pytest.mark.parametrize("cls", BUILTIN_DISTANCES)
def test_distances_pass_conformance(cls):
    check_distance(cls(), sample_shape=(5,))
    check_distance(cls(), sample_shape=(2, 3))


def test_known_values():
    a = torch.tensor([[0.0, 0.0, 0.0]])
    b = torch.tensor([[3.0, -4.0, 0.0]])
    assert L0Distance()(a, b).item() == 2
    assert L1Distance()(a, b).item() == 7
    assert L2Distance()(a, b).item() == pytest.approx(5)
    assert LinfDistance()(a, b).item() == 4
    assert HammingDistance()(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 5, 3]])).item() == 1


def test_l2_gradient_is_finite_at_zero():
    a = torch.zeros(2, 3, requires_grad=True)
    L2Distance()(a, torch.zeros(2, 3)).sum().backward()
    assert bool(torch.isfinite(a.grad).all())


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        L1Distance()(torch.zeros(2, 3), torch.zeros(2, 4))
