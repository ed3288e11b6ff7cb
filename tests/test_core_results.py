"""Results are data: JSON-safe, detached, with a plain-text table in original units."""

import json

import numpy as np
import pytest
import torch

from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.scaling import MinMaxScaler, RobustScaler, StandardScaler


@pytest.fixture(scope="module")
def batch():
    adapter = ScoreAdapter(lambda x: x.abs().sum(dim=1), threshold=1.0, sample_shape=(3,))
    interp = Interpreter(adapter, GradientSearch(), build_constraints(k=1), L2Distance())
    return interp.interpret_batch(torch.tensor([[0.2, 2.0, 0.1], [0.1, 0.1, 0.1]]))


def test_interpretation_fields_and_json(batch):
    first = batch[0]
    assert [f for f in first.to_dict()] == [
        "anomaly",
        "reference",
        "changed",
        "anomaly_values",
        "reference_values",
        "score",
        "reference_score",
        "threshold",
        "flipped",
        "steps",
        "seconds",
        "feature_names",
        "feature_groups",
        "needs",
        "alert",
        "changed_groups",
        "needs_text",
    ]
    assert first.changed.tolist() == [1]
    assert first.anomaly_values.tolist() == pytest.approx([2.0])
    assert first.flipped and first.reference_score <= 1.0
    text = json.dumps(batch.to_dict(), allow_nan=False)  # strict JSON: NaN or inf would raise here
    back = json.loads(text)
    assert back["interpretations"][0]["changed"] == [1] and back["threshold"] == 1.0
    assert back["interpretations"][1]["flipped"] is True  # the row the detector accepted
    assert all(isinstance(v, np.ndarray) for v in (first.anomaly, first.reference))


def test_interpretation_is_frozen(batch):
    with pytest.raises(AttributeError):
        batch[0].score = 0.0


def test_table_in_original_units(batch):
    scaler = MinMaxScaler().fit(np.array([[0.0, 0.0, 0.0], [10.0, 100.0, 1000.0]]))
    text = batch[0].table(feature_names=["pkts", "bytes", "secs"], inverse=scaler.inverse_transform)
    assert "bytes" in text and "200" in text  # 2.0 normalised -> 200 bytes
    with pytest.raises(ValueError, match="feature_names: expected 3 names; got 2"):
        batch[0].table(feature_names=["a", "b"])


def test_batch_helpers(batch):
    assert len(batch) == 2 and batch.flip_rate == 1.0
    assert batch.changed_mask().tolist() == [[False, True, False], [False, False, False]]
    with pytest.raises(IndexError):
        batch[2]
    assert "#1" in batch.table()


def test_merge_checks_coverage(batch):
    with pytest.raises(ValueError, match="not covered"):
        InterpretationBatch.merge([(np.array([0]), batch)], 3)


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler, RobustScaler])
def test_scalers_round_trip_exactly(cls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)) * [1, 10, 0, 1000] + 5
    scaler = cls().fit(x)
    assert np.allclose(scaler.inverse_transform(scaler.transform(x)), x, atol=1e-9)
    t = torch.tensor(x, dtype=torch.float64)
    assert torch.allclose(scaler.inverse_transform(scaler.transform(t)), t)
    clone = cls.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert np.allclose(clone.transform(x), scaler.transform(x))
    with pytest.raises(ValueError, match="expected 4 features"):
        scaler.transform(x[:, :3])
    with pytest.raises(ValueError, match="not fitted"):
        cls().transform(x)


def test_change_table_keeps_rank_order_and_shows_categories_as_a_to_b():
    from deepaid_sdk.results.views import change_table

    item = Interpretation(
        anomaly=np.array([3.0, 1.0, 7.0]),
        reference=np.array([6.0, 1.0, 2.0]),
        changed=np.array([2, 0]),
        anomaly_values=np.array([7.0, 3.0]),
        reference_values=np.array([2.0, 6.0]),
        score=2.0,
        reference_score=0.5,
        threshold=1.0,
        flipped=True,
        steps=3,
        seconds=0.1,
    )
    lines = change_table(item, ["a", "b", "c"], categorical=True).splitlines()
    assert lines[0].endswith("; 2 changed, most important first")  # the one title of a result's table
    assert item.table(["a", "b", "c"], categorical=True) == "\n".join(lines)  # Interpretation.table is this view
    assert [line.split()[0] for line in lines[3:]] == ["c", "a"]  # the order of changed, not of the index
    assert lines[3].split()[-3:] == ["7", "->", "2"] and lines[4].split()[-3:] == ["3", "->", "6"]
    numeric = change_table(item, ["a", "b", "c"]).splitlines()
    assert numeric[3].split()[-1] == "-5" and numeric[4].split()[-1] == "3"
