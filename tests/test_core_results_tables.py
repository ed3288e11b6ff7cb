"""Results with feature names: DataFrame/Arrow in, names kept, strict JSON, tables out, short reprs."""

import json

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ScoreAdapter

NAMES = ["pkts", "bytes", "secs"]
ROWS = np.array([[0.2, 2.0, 0.1], [0.1, 0.1, 0.1], [1.5, 0.0, 0.2]])


@pytest.fixture(scope="module")
def interp():
    adapter = ScoreAdapter(lambda x: x.abs().sum(dim=1), threshold=1.0, sample_shape=(3,))
    return Interpreter(adapter, GradientSearch(), build_constraints(k=1), L2Distance())


@pytest.fixture(scope="module")
def batch(interp):
    return interp.interpret_batch(pd.DataFrame(ROWS, columns=NAMES))


def test_dataframe_round_trip_keeps_feature_names(interp, batch):
    assert batch.feature_names == tuple(NAMES)
    assert batch[0].feature_names == tuple(NAMES)
    assert batch.changed_names()[0] == ["bytes"] and batch.changed_names()[2] == ["pkts"]
    frame = batch.to_pandas()
    assert list(frame.columns) == [
        "score",
        "reference_score",
        "threshold",
        "alert",
        "flipped",
        "changed",
        "anomaly_values",
        "reference_values",
        "steps",
        "needs",
    ]
    assert frame["changed"].tolist() == [["bytes"], [], ["pkts"]]
    assert frame["alert"].tolist() == [True, False, True]
    assert frame["anomaly_values"][0] == pytest.approx([2.0])
    # Same rows as a plain array: same numbers, no names.
    plain = interp.interpret_batch(ROWS)
    assert plain.feature_names is None and np.array_equal(plain.references, batch.references)
    assert "bytes" in batch.table() and "bytes" in batch[0].table()


def test_arrow_table_in_and_out(interp, batch):
    table = pa.table({n: ROWS[:, i] for i, n in enumerate(NAMES)})
    from_arrow = interp.interpret_batch(table)
    assert from_arrow.feature_names == tuple(NAMES)
    assert np.array_equal(from_arrow.references, batch.references)
    out = from_arrow.to_arrow(full=True)
    assert out.num_rows == 3 and out.column("changed").to_pylist()[0] == ["bytes"]
    assert out.column("reference").to_pylist()[1] == pytest.approx(ROWS[1].tolist())


def test_non_numeric_column_is_a_type_error(interp):
    frame = pd.DataFrame({"a": [1.0, 2.0], "host": ["x", "y"], "b": [0.0, 1.0]})
    with pytest.raises(TypeError, match=r"X: expected numeric columns; not numeric: \['host'\]"):
        interp.interpret_batch(frame)


def test_alerts_is_score_above_threshold(batch):
    assert batch.alerts.tolist() == (batch.scores > batch.threshold).tolist() == [True, False, True]
    assert [item.alert for item in batch] == [True, False, True]


def test_to_dict_is_strict_json(batch):
    text = json.dumps(batch.to_dict(), allow_nan=False)
    assert json.loads(text)["feature_names"] == NAMES
    bad = attrs.evolve(batch, reference_scores=np.array([0.5, np.inf, 0.5]))
    with pytest.raises(ValueError, match=r"row 1: reference_score: non-finite value inf"):
        bad.to_dict()
    with pytest.raises(ValueError, match=r"reference: non-finite value nan at \[2\]"):
        attrs.evolve(batch[0], reference=np.array([0.2, 0.9, np.nan])).to_dict()


def test_repr_is_a_short_summary(batch):
    text = repr(batch)
    assert text.startswith("InterpretationBatch(gradient: 3 rows") and "pkts" in text and len(text) < 200
    one = repr(batch[0])
    assert "changed ['bytes']" in one and "array" not in one and len(one) < 200


def test_wrong_number_of_names_is_an_error(batch):
    with pytest.raises(ValueError, match="feature_names: expected 3 names"):
        attrs.evolve(batch, feature_names=["a", "b"])
    with pytest.raises(TypeError, match="feature_names: expected a sequence of names"):
        attrs.evolve(batch, feature_names="abc")


def test_tensor_input_still_works(interp):
    assert interp.interpret_batch(torch.as_tensor(ROWS)).feature_names is None
