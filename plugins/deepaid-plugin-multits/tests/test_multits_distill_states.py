"""Distiller states of time-series alerts: feature, step back from the last one, and value interval."""

import json

import numpy as np
import pytest

from deepaid_plugin_multits.distill_states import StepIntervalStates
from deepaid_plugin_multits.synthetic import make_multits
from deepaid_sdk.distill import Distiller, as_alerts
from deepaid_sdk.registry import registry


@pytest.fixture(scope="module")
def series():
    return make_multits(features=5, window=6, train_steps=600, events=30, planted=2, seed=2)


def test_states_name_feature_and_step_and_rules_learn_the_event_kinds(series):
    length = series.window + 1
    states = StepIntervalStates.fit_series(series.train, length, series.feature_names)
    assert registry().get("distill_states", "multits").factory is StepIntervalStates
    # each planted event as an explanation record: the planted cells of its window, largest change first
    records = []
    for onset in series.onsets:
        window = series.test[onset - length + 1 : onset + 1]
        cells = [[length - 1, int(d)] for d in np.flatnonzero(series.truth[onset])]
        records.append(
            {
                "changed": cells,
                "anomaly_values": [float(window[t, d]) for t, d in cells],
                "reference_values": [0.0] * len(cells),
            }
        )
    paths = states.states(as_alerts(records))
    names = set(series.feature_names)
    assert len(paths) == len(records) == len(series.onsets) >= 10 and all(paths)
    for path in paths:
        for s in path:
            name, _, step = s.feature.partition(" @ ")
            assert name in names and (step == "t" or step.startswith("t-"))
    (early,) = states.states(
        as_alerts([{"changed": [[length - 3, 1]], "anomaly_values": [0.0], "reference_values": [0.0]}])
    )
    assert early[0].feature == f"{series.feature_names[1]} @ t-2"
    # explain records name window cells as feature_label writes them ("t=4 name")
    (named,) = states.states(
        as_alerts(
            [
                {
                    "changed": [f"t={length - 3} {series.feature_names[1]}"],
                    "anomaly_values": [0.0],
                    "reference_values": [0.0],
                }
            ]
        )
    )
    assert named == early
    first: dict = {}
    labels = [first.setdefault(p, k) for p, k in zip(paths, series.kinds)]
    rules = Distiller(states).fit(records, labels)
    assert list(rules.predict(records).verdicts) == labels
    back = Distiller.from_dict(json.loads(rules.to_json()))
    assert back == rules and back.states.length == length
    with pytest.raises(ValueError, match="length: expected the number of steps"):
        StepIntervalStates(states.feature_names, states.edges, states.labels, 0)
