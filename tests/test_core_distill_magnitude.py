"""Magnitude states keep how far beyond normal a value is; a calibrated Distiller calls unlike patterns unknown."""

import numpy as np
import pytest

from deepaid_sdk.distill import Alert, Distiller, IntervalStates, MagnitudeStates

NAMES = ["rate", "size", "jitter"]
NORMAL = np.random.default_rng(0).uniform(0.0, 10.0, size=(500, 3))


def _alert(changes, refs=None):
    names = [c[0] for c in changes]
    values = [float(c[1]) for c in changes]
    refs = refs or [5.0] * len(changes)
    return Alert(tuple(names), tuple(values), tuple(float(r) for r in refs))


def test_a_burst_and_a_flood_are_different_states():
    intervals = IntervalStates.fit(NORMAL, NAMES)
    magnitude = MagnitudeStates.fit(NORMAL, NAMES, direction=False)
    top = NORMAL[:, 0].max()
    burst, flood = _alert([("rate", 1.42 * top)]), _alert([("rate", 26 * top)])
    assert intervals.states([burst]) == intervals.states([flood])  # both "above every normal value"
    (b,), (f,) = magnitude.states([burst, flood])
    assert b != f and b.value == "above normal, 1-2x its range" and f.value == "above normal, 16-32x its range"
    assert f.level > b.level
    low = magnitude.states([_alert([("size", -25.0)])])[0][0]
    assert (
        low.value.startswith("below normal, 2-4x")
        and low.level < magnitude.states([_alert([("size", 5.0)])])[0][0].level
    )
    inside = magnitude.states([_alert([("size", float(np.median(NORMAL[:, 1])))])])[0][0]
    assert inside.value == "in the middle 50% of normal"


def test_direction_and_groups():
    states = MagnitudeStates.fit(NORMAL, NAMES, groups=["traffic", "traffic", "timing"])
    up, down = states.states([_alert([("rate", 9.0)], [1.0]), _alert([("rate", 1.0)], [9.0])])
    assert up[0].feature == "traffic (up)" and down[0].feature == "traffic (down)"
    path = states.states([_alert([("rate", 200.0), ("size", 9.0), ("jitter", 9.0)], [5.0, 5.0, 5.0])])[0]
    assert [s.feature for s in path] == ["traffic (up)", "timing (up)"]  # a group once, its first feature speaks
    assert "200" not in path[0].value and path[0].value.startswith("above normal")


def test_magnitude_states_round_trip_through_the_rule_file():
    states = MagnitudeStates.fit(NORMAL, NAMES, octaves=6)
    model = Distiller(states, calibrate=True).fit([_alert([("rate", 100.0)]), _alert([("rate", 110.0)])], ["x", "x"])
    again = Distiller.from_json(model.to_json())
    assert isinstance(again.states, MagnitudeStates) and again.states.octaves == 6
    assert again.thresholds == model.thresholds and again.calibrate
    assert again.predict([_alert([("rate", 105.0)])]).verdicts == model.predict([_alert([("rate", 105.0)])]).verdicts


def test_calibrated_distiller_calls_an_unlike_pattern_unknown():
    states = MagnitudeStates.fit(NORMAL, NAMES, direction=False)
    top = NORMAL[:, 0].max()
    floods = [_alert([("rate", f * top), ("size", 9.5)]) for f in (20, 22, 25, 28, 30)]
    scans = [_alert([("jitter", f * top)]) for f in (3, 3.5)]
    labels = ["flood"] * 5 + ["scan"] * 2
    unlike = _alert([("rate", 1.5 * top), ("size", 9.5)])  # same features as a flood, a fraction of its size
    plain = Distiller(states).fit(floods + scans, labels)
    calibrated = Distiller(states, calibrate=True).fit(floods + scans, labels)
    assert plain.predict([unlike]).verdicts == ("flood",)
    assert calibrated.predict([unlike]).verdicts == ("unknown",)
    assert calibrated.predict([_alert([("rate", 24 * top), ("size", 9.5)])]).verdicts == ("flood",)
    assert dict(calibrated.thresholds)["flood"] >= calibrated.min_score
    assert "calibrated least confidence" in calibrated.to_text()


def test_calibration_needs_the_path_model():
    with pytest.raises(ValueError, match="calibrate"):
        Distiller(IntervalStates.fit(NORMAL, NAMES), mode="fsm", calibrate=True)
    with pytest.raises(ValueError, match="thresholds"):
        Distiller(IntervalStates.fit(NORMAL, NAMES), thresholds={"x": 2.0})
