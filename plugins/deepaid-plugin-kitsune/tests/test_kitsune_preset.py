"""The ``kitsune`` preset through ``deepaid_sdk.create``: raw rows in, raw references out, K and box kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepaid_sdk
from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.names import feature_bounds, feature_names
from deepaid_plugin_kitsune.preset import KitsuneInterpreter
from deepaid_plugin_kitsune.synthetic import traffic_features
from deepaid_sdk.groups import FeatureGroups
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.testing import check_search


@pytest.fixture(scope="module")
def setup():
    data = traffic_features(3000, 90, n_test=10, seed=5)
    model = fit_kitnet(data.normal, epochs=10, seed=5)
    adapter = KitNETAdapter(model)
    with torch.no_grad():
        alert = (~adapter.is_normal(adapter.prepare(data.anomalies))).numpy()
    return model, data.anomalies[alert][:24], data.truth[alert][:24]


def test_preset_explains_raw_rows_within_k_and_box(setup) -> None:
    model, alerts, truth = setup
    interp = deepaid_sdk.create("kitsune", model=model, k=5)
    assert isinstance(interp, KitsuneInterpreter) and interp.feature_names == tuple(feature_names())
    batch = interp.interpret_batch(alerts)
    np.testing.assert_array_equal(batch.anomalies, alerts)  # raw units, unchanged
    assert batch.flip_rate >= 0.9
    changed = batch.changed_mask()
    groups = FeatureGroups.of(interp.adapter.feature_groups, changed.shape[1])
    assert (groups.count(changed) <= 5).all()  # k counts groups (a statistic over its decay windows)
    np.testing.assert_array_equal(changed, batch.references != batch.anomalies)
    low, high = feature_bounds()
    assert (batch.references >= low - 1e-6).all() and (batch.references <= high + 1e-6).all()
    # Verdicts are KitNET's own, on the raw references.
    with torch.no_grad():
        raw_scores = model(torch.as_tensor(batch.references)).numpy()
    np.testing.assert_array_equal(batch.flipped, raw_scores <= float(model.threshold))
    hits = (changed & truth).sum(axis=1) / truth.sum(axis=1)
    assert hits.mean() > 0.7
    text = interp.table(batch, limit=2)
    assert text.startswith("#0 score") and ("_weight" in text or "_mean" in text)


def test_single_row_and_table_names(setup) -> None:
    model, alerts, _ = setup
    interp = deepaid_sdk.create("kitsune", model=KitNETAdapter(model), k=3, start="auto", prune=True)
    one = interp.interpret(alerts[0])
    assert len(one.changed) <= 3
    assert any(name in one.table(interp.feature_names) for name in feature_names())


def test_the_scaled_search_conforms(setup) -> None:
    model, alerts, _ = setup
    interp = deepaid_sdk.create("kitsune", model=model, k=5)
    z = interp.adapter.to_space(torch.as_tensor(alerts[:6]))
    check_search(interp.search, interp.adapter, z, interp.constraints, interp.distance)
    # The base interpreter on scaled rows gives the same features as the raw-unit preset.
    scaled = Interpreter.interpret_batch(interp, z)
    raw = interp.interpret_batch(alerts[:6])
    assert len(scaled.changed) == len(raw.changed) == 6
    for a, b in zip(scaled.changed, raw.changed):
        assert set(a.tolist()) == set(b.tolist())


def test_preset_arguments_are_checked(setup) -> None:
    model, _, _ = setup
    with pytest.raises(TypeError, match="model: expected a KitNET or a KitNETAdapter"):
        deepaid_sdk.create("kitsune", model=torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="k: expected at most the number of features"):
        deepaid_sdk.create("kitsune", model=model, k=500)
    with pytest.raises(ValueError, match="feature_names: expected 115 names"):
        deepaid_sdk.create("kitsune", model=model, feature_names=["a"])
    with pytest.raises(TypeError, match="box: expected True"):
        deepaid_sdk.create("kitsune", model=model, box="yes")
    interp = deepaid_sdk.create("kitsune", model=model, box=False)
    assert "box" not in [c.name for c in interp.constraints]
