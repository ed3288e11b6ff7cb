"""Rates count alerts only: a row the detector never flagged is its own reference, not a flipped alert."""

import numpy as np
import pytest

from deepaid_plugin_deeplog.edits import SessionBatch, SessionInterpretation
from deepaid_sdk.results import InterpretationBatch


def _batch(scores, flipped, threshold=1.0):
    n = len(scores)
    x = np.zeros((n, 3))
    return InterpretationBatch(
        anomalies=x,
        references=x,
        changed=tuple(np.zeros(0, dtype=np.int64) for _ in range(n)),
        scores=np.asarray(scores, dtype=np.float64),
        reference_scores=np.zeros(n),
        flipped=np.asarray(flipped, dtype=bool),
        steps=np.zeros(n, dtype=np.int64),
        threshold=threshold,
        seconds=0.1,
    )


def test_flip_rate_is_over_the_alerts_only():
    # 2 alerts (one flipped) among 6 rows; the 4 quiet rows are "flipped" (their own, normal reference)
    batch = _batch([2.0, 3.0, 0.1, 0.2, 0.3, 0.4], [True, False, True, True, True, True])
    assert batch.flip_rate == pytest.approx(0.5)
    assert batch.to_dict()["flip_rate"] == pytest.approx(0.5)
    assert "flip rate over alerts 0.500" in repr(batch)


def test_flip_rate_without_alerts_is_nan_and_null_in_json():
    batch = _batch([0.1, 0.2], [True, True])
    assert np.isnan(batch.flip_rate) and batch.to_dict()["flip_rate"] is None


def _session(flagged, remaining):
    keys = np.arange(12)
    return SessionInterpretation(
        session=keys, edited=keys, edits=(), flagged=tuple(flagged), remaining=tuple(remaining), rounds=0
    )


def test_session_flip_rate_is_over_the_alerted_sessions():
    batch = SessionBatch(
        results=(_session([3], []), _session([4], [4]), _session([], []), _session([], [])),
        seconds=0.1,
        method="sessions",
    )
    assert batch.flip_rate == pytest.approx(0.5)
    assert batch.to_dict()["flip_rate"] == pytest.approx(0.5)
    empty = SessionBatch(results=(_session([], []),), seconds=0.1, method="sessions")
    assert np.isnan(empty.flip_rate) and empty.to_dict()["flip_rate"] is None
