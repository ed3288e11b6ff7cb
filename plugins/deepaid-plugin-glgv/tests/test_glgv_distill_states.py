"""Distiller states of login-graph alerts: endpoint kinds and hop distance from real explanations."""

import json

import numpy as np

import deepaid_sdk
from deepaid_plugin_glgv.distill_states import EndpointStates
from deepaid_sdk.distill import Distiller, as_alerts
from deepaid_sdk.registry import registry


def test_states_name_the_changed_endpoints_kinds_and_the_hop_distance(glgv_trained):
    data, graph, det = glgv_trained
    pairs, malicious = data.test_edges()
    ids = graph.ids(pairs)
    alert = det.score_edges(ids) > det.threshold
    batch = deepaid_sdk.create("glgv", model=det).interpret_batch(ids[alert])
    assert registry().get("distill_states", "glgv").factory is EndpointStates
    states = EndpointStates().states(as_alerts(batch))
    assert len(states) == len(batch.details) == int(alert.sum()) >= 5
    for path, d, changed in zip(states, batch.details, batch.changed):
        texts = [s.text for s in path]
        assert f"edge kinds {d['anomaly_kinds'][0]} -> {d['anomaly_kinds'][1]}" in texts
        assert path[-1].feature == "hop distance" and path[-1].level == d["hops"]
        assert sum(s.feature == "changed endpoint" for s in path) == len(changed)
    labels = ["malicious" if m else "benign" for m in malicious[alert]]
    first: dict = {}
    labels = [first.setdefault(p, lab) for p, lab in zip(states, labels)]
    rules = Distiller(EndpointStates()).fit(batch, labels)
    assert list(rules.predict(batch).verdicts) == labels
    back = Distiller.from_dict(json.loads(rules.to_json()))
    assert back == rules and isinstance(back.states, EndpointStates)
    np.testing.assert_array_equal(back.predict(batch).confidence, rules.predict(batch).confidence)
