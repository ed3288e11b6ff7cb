"""Captum attributions: the ``attribute`` helper and the attribution baselines."""

import numpy as np
import pytest
import torch
from torch import nn

from deepaid_baselines import ATTRIBUTION_METHODS, attribute
from deepaid_baselines.attribution import USES_BASELINES
from deepaid_baselines.attribution_searches import ATTRIBUTION_SEARCHES, KernelShapSearch, LimeSearch
from deepaid_sdk import ConcisenessConstraint
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.testing import INVARIANCE_ROWS, check_search

K = 3


def linear_case(shape=(20,), seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=gen)
    x = torch.randn(4, *shape, generator=gen)
    base = torch.randn(*shape, generator=gen)

    def forward(t):
        return (t * w).reshape(t.shape[0], -1).sum(dim=1)

    return forward, w, x, base


@pytest.mark.parametrize("shape", [(12,), (3, 4)])
@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_attribute_on_a_linear_score_matches_the_closed_form(method, shape):
    forward, w, x, base = linear_case(shape)
    attr = (
        attribute(method, forward, x, base, n_samples=200)
        if method in ("kernel_shap", "lime")
        else attribute(method, forward, x, base)
    )
    assert attr.shape == x.shape
    expected = {"saliency": w.expand_as(x), "input_x_gradient": x * w}.get(method, w * (x - base))
    torch.testing.assert_close(attr, expected, atol=2e-3, rtol=1e-3)


def test_deeplift_hooks_the_layers_of_the_given_module():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    forward = lambda t: net(t)[:, 0]  # noqa: E731
    x, base = torch.randn(5, 6), torch.zeros(6)
    delta = forward(x) - forward(base[None])
    hooked = attribute("deeplift", forward, x, base, module=net)
    torch.testing.assert_close(hooked.sum(dim=1), delta.detach(), atol=1e-4, rtol=1e-4)  # summation to delta
    plain = attribute("deeplift", forward, x, base)
    assert not torch.allclose(plain.sum(dim=1), delta.detach(), atol=1e-3)


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_sampling_methods_are_seeded_and_batch_independent(method):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    forward = lambda t: net(t)[:, 0]  # noqa: E731
    x = torch.randn(5, 8)
    a = attribute(method, forward, x, seed=3, n_samples=60)
    torch.testing.assert_close(a, attribute(method, forward, x, seed=3, n_samples=60))
    torch.testing.assert_close(a[2:3], attribute(method, forward, x[2:3], seed=3, n_samples=60))
    assert not torch.allclose(a, attribute(method, forward, x, seed=4, n_samples=60))
    state = torch.get_rng_state()
    attribute(method, forward, x, seed=3, n_samples=20)
    assert torch.equal(state, torch.get_rng_state()), "the global RNG is left as it was"


def test_attribute_rejects_bad_arguments():
    forward, _, x, base = linear_case()
    with pytest.raises(ValueError, match="method"):
        attribute("shapley", forward, x)
    with pytest.raises(TypeError, match="inputs"):
        attribute("saliency", forward, x.numpy())
    with pytest.raises(ValueError, match="baselines"):
        attribute("integrated_gradients", forward, x, torch.zeros(3))
    with pytest.raises(ValueError, match="forward"):
        attribute("saliency", lambda t: t, x)
    with pytest.raises(ValueError, match="chunk"):
        attribute("saliency", forward, x, chunk=0)
    with pytest.raises(ValueError, match="n_samples"):
        attribute("lime", forward, x, n_samples=1)


def test_gradient_methods_do_not_depend_on_chunking():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(9, 8)
    for method in ("integrated_gradients", "deeplift", "saliency"):
        full = attribute(method, lambda t: net(t)[:, 0], x, module=net)
        torch.testing.assert_close(full, attribute(method, lambda t: net(t)[:, 0], x, module=net, chunk=4))


def fast_options(cls):
    return {"n_samples": 40} if cls in (KernelShapSearch, LimeSearch) else {}


@pytest.mark.parametrize("cls", ATTRIBUTION_SEARCHES, ids=lambda c: c.name)
def test_attribution_baseline_changes_at_most_k_features_to_the_reconstruction(cls, baselines_ae):
    ae = baselines_ae
    x = ae.anomalies[:10]
    # KernelSHAP and LIME fit a surrogate on sampled coalitions per row: 10,000 rows take minutes
    # on 2 cores, so the large-batch invariance check runs on the gradient methods here and on
    # the sampling methods in test_sampling_baselines_do_not_depend_on_the_batch below.
    sampled = cls in (KernelShapSearch, LimeSearch)
    result = check_search(
        cls(normal=ae.normal, **fast_options(cls)),
        ae.adapter,
        x,
        [ConcisenessConstraint(K)],
        single_rows=2,
        batch_rows=0 if sampled else INVARIANCE_ROWS,
    )
    mask = result.changed_mask()
    assert mask.sum(axis=1).max() <= K and mask.any()
    with torch.no_grad():
        rec = ae.model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(result.references[mask], rec[mask], rtol=1e-6)
    np.testing.assert_array_equal(result.references[~mask], x[~mask])
    assert result.params["values"] == "reconstruction"
    # normal rows are given: the methods that integrate or sample from a baseline start at their median
    assert result.params["attribution_baseline"] == ("normal median" if cls.method in USES_BASELINES else None)


@pytest.mark.parametrize("cls", ATTRIBUTION_SEARCHES, ids=lambda c: c.name)
def test_attribution_baseline_without_reconstruction_uses_the_normal_median(cls, baselines_ae):
    ae = baselines_ae
    scorer = ScoreAdapter(lambda t: ae.adapter.score(t), threshold=ae.adapter.threshold, sample_shape=(20,))
    x = ae.anomalies[:6]
    assert cls.applies_to(scorer, normal=ae.normal) and not cls.applies_to(scorer)
    result = cls(normal=ae.normal, **fast_options(cls)).search(scorer, x, [ConcisenessConstraint(K)])
    mask = result.changed_mask()
    assert mask.sum(axis=1).max() <= K
    median = torch.as_tensor(ae.normal).median(dim=0).values.numpy()
    np.testing.assert_array_equal(result.references, np.where(mask, median[None], x))
    assert result.params["values"] == "normal median"
    with pytest.raises(ValueError, match="normal="):
        cls(**fast_options(cls)).search(scorer, x, [ConcisenessConstraint(K)])


def test_attribution_baselines_find_planted_features(baselines_ae):
    ae = baselines_ae
    search = ATTRIBUTION_SEARCHES[0](normal=ae.normal)  # integrated gradients
    result = search.search(ae.adapter, ae.anomalies, [ConcisenessConstraint(K)])
    assert ((result.changed_mask() & ae.truth).sum(axis=1) / K).mean() > 0.7


def test_no_private_captum_names_and_the_surrogate_is_exact_least_squares():
    import pathlib

    import deepaid_baselines
    from deepaid_baselines.attribution import RidgeSurrogate

    src = pathlib.Path(deepaid_baselines.__file__).parent
    offenders = [p.name for p in src.glob("*.py") if "captum._" in p.read_text()]
    assert offenders == []
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([2.0, -1.0, 0.5]) + 3.0
    surrogate = RidgeSurrogate()
    surrogate.fit([(x[:32], y[:32]), (x[32:], y[32:], torch.ones(32))])
    assert torch.allclose(surrogate.representation(), torch.tensor([[2.0, -1.0, 0.5]]), atol=1e-4)
    assert torch.allclose(surrogate(x).squeeze(1), y, atol=1e-4)


@pytest.mark.parametrize("cls", [KernelShapSearch, LimeSearch], ids=lambda c: c.name)
def test_sampling_baselines_do_not_depend_on_the_batch(cls, baselines_ae):
    """The same rows alone and at several positions of a 300-row batch give the same changes."""
    from deepaid_sdk.testing import check_batch_invariance

    check_batch_invariance(
        cls(normal=baselines_ae.normal, n_samples=20),
        baselines_ae.adapter,
        baselines_ae.anomalies[:6],
        [ConcisenessConstraint(K)],
        rows=300,
        probes=2,
    )
