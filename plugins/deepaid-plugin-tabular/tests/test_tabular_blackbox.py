"""``create("tabular", model=IsolationForest(...))``: the preset picks the blackbox search by itself."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

import deepaid_sdk
from deepaid_plugin_tabular import synthetic
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.search.gradient import GradientSearch


@pytest.fixture(scope="module")
def table() -> synthetic.SyntheticTable:
    return synthetic.make_table("blob", n_anomalies=40, seed=0)


def test_isolation_forest_gets_the_blackbox_search_with_the_calibration_rows(table) -> None:
    forest = IsolationForest(n_estimators=50, random_state=0).fit(table.normal)
    interp = deepaid_sdk.create(
        "tabular", model=forest, normal=table.normal, percentile=99, k=10, features=table.feature_names
    )
    assert isinstance(interp.search, BlackboxSearch)
    # The rows are prepared and scored once: the search holds the adapter's own NormalData.
    assert interp.search.normal is interp.adapter.normal
    np.testing.assert_array_equal(interp.search.normal.values.numpy(), table.normal)
    assert interp.adapter.threshold == pytest.approx(-forest.offset_)  # sklearn's own boundary
    alerts = table.anomalies[~interp.adapter.is_normal(interp.adapter.prepare(table.anomalies)).numpy()]
    assert len(alerts) >= 20
    batch = interp.interpret_batch(alerts)
    assert batch.flip_rate >= 0.95
    assert table.feature_names[int(batch[0].changed[0])] in interp.table(batch[0])


def test_a_torch_autoencoder_still_gets_the_gradient_search(table) -> None:
    model = synthetic.cached_autoencoder(table.normal, name="tabular-blob", **synthetic.TRAINING["blob"])
    interp = deepaid_sdk.create("tabular", model=model, normal=table.normal, k=10)
    assert isinstance(interp.search, GradientSearch)


def test_forcing_gradient_on_a_forest_fails_with_advice(table) -> None:
    forest = IsolationForest(n_estimators=20, random_state=0).fit(table.normal)
    interp = deepaid_sdk.create("tabular", model=forest, normal=table.normal, search="gradient")
    with pytest.raises(ValueError, match=r"IsolationForest has no gradient.*search='blackbox'"):
        interp.interpret_batch(table.anomalies[:4])


def test_blackbox_without_normal_rows_is_refused(table) -> None:
    forest = IsolationForest(n_estimators=20, random_state=0).fit(table.normal)
    interp = deepaid_sdk.create("tabular", model=forest, k=5)
    assert isinstance(interp.search, BlackboxSearch)
    alerts = table.anomalies[~interp.adapter.is_normal(interp.adapter.prepare(table.anomalies)).numpy()]
    with pytest.raises(ValueError, match="normal: the blackbox search"):
        interp.interpret_batch(alerts[:2])
