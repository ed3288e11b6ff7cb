"""The ``tabular`` preset: creation through deepaid_sdk.create, calibration, options, tables, end to end."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import deepaid_sdk
from deepaid_plugin_tabular import FeatureSpec, TabularInterpreter, calibrate, synthetic
from deepaid_plugin_tabular.calibration import SCORE_ONLY_DESCENT
from deepaid_sdk.distances import Distance
from deepaid_sdk.evaluation import precision_recall_at_k
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.registry import Component
from deepaid_sdk.scaling import MinMaxScaler
from deepaid_sdk.search.gradient import GradientSearch
from deepaid_sdk.testing import check_search

K = 3


@pytest.fixture(scope="module")
def blob():
    """A small blob (20 features, 3 shifted) and a denoising autoencoder trained on it in about a second."""
    table = synthetic.blob(n_normal=800, n_anomalies=40, width=20, shifted=K, seed=1)
    model = synthetic.train_autoencoder(
        table.normal, hidden=32, bottleneck=8, epochs=40, batch_size=64, lr=1e-2, denoise=0.1, seed=1
    )
    return table, model


def test_create_with_threshold_or_normal_data(blob):
    table, model = blob
    interp = deepaid_sdk.create("tabular", model=model, threshold=0.05, k=K)
    assert isinstance(interp, TabularInterpreter) and interp.name == "tabular"
    assert interp.adapter.threshold == 0.05
    assert interp.calibration.scale_source == "threshold"
    names = [c.name for c in interp.constraints]
    assert names[:3] == ["fidelity", "stability", "conciseness"]
    calibrated = deepaid_sdk.create("tabular", model=model, normal=table.normal, percentile=95.0)
    scores = calibrated.adapter.scores(table.normal).numpy()
    assert calibrated.adapter.threshold == pytest.approx(np.quantile(scores.astype(np.float64), 0.95), rel=1e-5)
    assert calibrated.calibration.scale_source == "normal"
    assert calibrated.describe()["calibration"]["k"] == 4  # round(sqrt(20))
    # A detector that reconstructs keeps the core's step rule and stall exit; one that only scores gets
    # the faster ones (issue 21 item 3), and a user's option still wins.
    described = calibrated.search.describe()
    assert (described["lr_growth"], described["lr_max"], described["patience"]) == (1.1, 1.0, 50)
    scorer = ScoreAdapter(lambda x: model(x).sub(x).pow(2).mean(dim=1).sqrt(), 0.05, sample_shape=(20,))
    blind = deepaid_sdk.create("tabular", model=scorer, normal=table.normal).search.describe()
    assert {key: blind[key] for key in SCORE_ONLY_DESCENT} == SCORE_ONLY_DESCENT
    assert blind["lr_growth"] > 1.1 and blind["lr_max"] > 1.0
    own = deepaid_sdk.create("tabular", model=scorer, normal=table.normal, search_options={"patience": 9})
    assert own.search.describe()["patience"] == 9


def test_calibrated_defaults_follow_width_scale_and_threshold():
    cal = calibrate(100, threshold=0.04, scale=0.2)
    assert (cal.k, cal.lam, cal.lr, cal.eps) == (10, pytest.approx(0.01), pytest.approx(0.02), pytest.approx(0.0008))
    assert calibrate(4, threshold=1.0).k == 2
    assert calibrate(10_000, threshold=1.0).k == 10
    assert calibrate(9, threshold=2.0).lr == pytest.approx(0.1 * 5 * 2.0)
    with pytest.raises(ValueError, match="threshold"):
        calibrate(9, threshold=math.inf)


def test_every_default_is_overridable(blob):
    _, model = blob
    interp = deepaid_sdk.create(
        "tabular",
        model=model,
        threshold=0.05,
        k=2,
        lam=0.5,
        eps=0.01,
        lr=0.3,
        steps=7,
        search_options={"start": "anomaly"},
    )
    assert interp.calibration.k == 2
    assert interp.search.lr == 0.3 and interp.search.steps == 7 and interp.search.start == "anomaly"
    by_name = {c.name: c for c in interp.constraints}
    assert by_name["stability"].lam == 0.5 and by_name["fidelity"].eps == 0.01 and by_name["conciseness"].k == 2


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"threshold": float("nan")}, ValueError, "threshold: expected a finite number"),
        ({"threshold": float("inf")}, ValueError, "threshold: expected a finite number"),
        ({}, ValueError, "threshold: pass threshold=, or normal="),
        ({"threshold": 0.1, "features": ["a", "b"]}, ValueError, "features: has 2 feature names; the model takes 20"),
        ({"threshold": 0.1, "features": 3}, TypeError, "features"),
        ({"threshold": 0.1, "k": 21}, ValueError, "k: expected at most the number of features"),
        ({"threshold": 0.1, "distance": "no-such-distance"}, ValueError, "unknown distance 'no-such-distance'"),
        ({"threshold": 0.1, "search": "no-such-search"}, ValueError, "unknown search"),
        ({"threshold": 0.1, "scaler": MinMaxScaler().fit(np.ones((2, 3)))}, ValueError, "scaler"),
    ],
)
def test_creation_errors_are_clear(blob, options, error, match):
    _, model = blob
    with pytest.raises(error, match=match):
        deepaid_sdk.create("tabular", model=model, **options)


def test_bad_model_shape_fails_at_creation():
    with pytest.raises(ValueError, match=r"expected \[1, 8\].*got \[1, 7\]"):
        deepaid_sdk.create("tabular", model=nn.Linear(8, 7), threshold=1.0)


def test_registered_distances_and_searches_by_name(blob):
    _, model = blob

    class HalfL1(Distance):
        """Half the L1 distance: a third-party distance registered by name."""

        name = "test-half-l1"

        def _distance(self, a, b):
            return 0.5 * (a - b).abs().sum(dim=1)

    reg = deepaid_sdk.registry()
    reg.add(Component("distances", HalfL1.name, HalfL1, "test-plugin"))
    try:
        interp = deepaid_sdk.create("tabular", model=model, threshold=0.05, distance="test-half-l1")
        assert isinstance(interp.distance, HalfL1)
    finally:
        del reg.components["distances"][HalfL1.name]
    interp = deepaid_sdk.create("tabular", model=model, threshold=0.05, search=("gradient", {"steps": 5}))
    assert isinstance(interp.search, GradientSearch) and interp.search.steps == 5
    assert interp.search.lr == pytest.approx(interp.calibration.lr)  # calibrated options still offered
    own = GradientSearch(steps=3)
    assert deepaid_sdk.create("tabular", model=model, threshold=0.05, search=own).search is own
    # a baseline search (deepaid-baselines is installed with the tests): only the options it takes are offered
    assert "residual" in reg.names("searches")
    assert deepaid_sdk.create("tabular", model=model, threshold=0.05, search="residual").search.name == "residual"


def test_feature_metadata_becomes_constraints(blob, tmp_path):
    table, model = blob
    path = tmp_path / "header.csv"
    path.write_text(",".join(table.feature_names) + "\n")
    spec = FeatureSpec.from_csv(path, low=0.0, frozen=[0])
    interp = deepaid_sdk.create("tabular", model=model, normal=table.normal, features=spec, k=K)
    assert {"box", "frozen"} <= {c.name for c in interp.constraints}
    assert deepaid_sdk.create("tabular", model=model, threshold=0.1, features=path).feature_names == table.feature_names
    result = interp.interpret_batch(table.anomalies[:10])
    assert (result.references[:, 0] == result.anomalies[:, 0]).all()
    assert (result.references >= 0).all()


def test_table_shows_original_units_through_the_scaler(blob):
    table, model = blob
    raw_normal = table.to_original(table.normal)
    scaler = MinMaxScaler().fit(raw_normal)
    # The model was trained in table units; refit it through the scaler's units for this test.
    x_normal = scaler.transform(raw_normal).astype(np.float32)
    scaled_model = synthetic.train_autoencoder(
        x_normal, hidden=32, bottleneck=8, epochs=10, batch_size=64, lr=1e-2, seed=2
    )
    interp = deepaid_sdk.create(
        "tabular", model=scaled_model, normal=x_normal, k=K, scaler=scaler, features=list(table.feature_names)
    )
    raw = table.to_original(table.anomalies[:4])
    x = scaler.transform(raw).astype(np.float32)
    assert np.allclose(interp.inverse(x), raw, rtol=1e-5, atol=1e-3 * np.abs(raw).max())
    item = interp.interpret(x[0])
    text = interp.table(item)
    first = item.changed[0]
    row = next(line for line in text.splitlines() if line.startswith(table.feature_names[first] + " "))
    anomaly_value = float(row.split()[1])
    assert anomaly_value == pytest.approx(raw[0, first], rel=1e-4)
    assert re.search(r"reference (normal|STILL ANOMALOUS)", text)


def test_end_to_end_small_blob(blob):
    table, model = blob
    interp = deepaid_sdk.create("tabular", model=model, normal=table.normal, k=K)
    x = torch.as_tensor(table.anomalies)
    alerts = (~interp.adapter.is_normal(x)).numpy()
    assert alerts.mean() >= 0.9
    batch = interp.interpret_batch(table.anomalies[alerts])
    _, recall = precision_recall_at_k(batch, table.truth[alerts], K)
    assert recall >= 0.9
    assert batch.flip_rate >= 0.9
    assert all(len(c) <= K for c in batch.changed)
    check_search(interp.search, interp.adapter, table.anomalies[alerts][:6], list(interp.constraints), interp.distance)


def test_integer_features_of_scaled_data_need_the_scaler(blob):
    table, model = blob
    spec = FeatureSpec.from_lists(table.feature_names, integer=[0])
    with pytest.raises(ValueError, match="pass scaler="):
        deepaid_sdk.create("tabular", model=model, normal=table.normal, features=spec)


def test_score_models_and_ready_adapters_are_accepted(blob):
    table, model = blob
    from deepaid_plugin_tabular import AutoencoderAdapter

    def rmse(x):
        return (model(x) - x).pow(2).mean(dim=1).sqrt()

    scored = deepaid_sdk.create("tabular", model=rmse, width=20, normal=table.normal, k=K)
    ready = deepaid_sdk.create("tabular", model=AutoencoderAdapter(model), normal=table.normal, k=K)
    assert scored.adapter.threshold == pytest.approx(ready.adapter.threshold, rel=1e-4)
    assert scored.adapter.reconstruct(torch.as_tensor(table.anomalies[:1])) is None
    result = scored.interpret_batch(table.anomalies[:8])
    assert result.flip_rate >= 0.75 and all(len(c) <= K for c in result.changed)


def test_with_normal_rows_references_stay_in_the_widened_normal_range():
    rng = np.random.default_rng(0)
    normal = rng.uniform(0.0, 1.0, (200, 4)).astype(np.float32)  # never negative, like a count or a ratio
    alerts = np.array([[0.9, 0.9, 3.0, 3.0], [3.0, 0.9, 3.0, 0.9]], dtype=np.float32)

    def score(x):
        return torch.relu(x.sum(dim=1))  # "normal" = a small sum: unboxed, the search goes negative

    # a long step budget: far from the threshold, the unboxed search must be able to reach negative values
    boxed = deepaid_sdk.create(
        "tabular", model=score, normal=normal, threshold=1.0, k=2, adapter="score", width=4, steps=400
    )
    refs = boxed.interpret_batch(alerts).references
    low, high = normal.min(axis=0), normal.max(axis=0)
    span = high - low
    moved = refs != alerts
    assert moved.any() and (refs >= 0).all()  # never negative, like the normal rows
    assert (refs[moved] <= np.broadcast_to(high + 0.1 * span + 1e-6, refs.shape)[moved]).all()
    assert "normal rows' range widened by 0.1" in boxed.describe()["calibration"]["box"]
    free = deepaid_sdk.create(
        "tabular", model=score, normal=normal, threshold=1.0, k=2, adapter="score", width=4, box_margin=None, steps=400
    )
    assert (free.interpret_batch(alerts).references < 0).any()  # what the default box prevents
    assert free.describe()["calibration"]["box"] == "none"
    with pytest.raises(ValueError, match="box_margin: expected a number >= 0.0"):
        deepaid_sdk.create(
            "tabular", model=score, normal=normal, threshold=1.0, adapter="score", width=4, box_margin=-0.1
        )
