"""Distiller states of DeepLog alerts: each replaced key with its template, from real explanations."""

import json

import deepaid_sdk
from deepaid_plugin_deeplog.distill_states import EDIT_STATES, EditStates
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS
from deepaid_sdk.distill import Distiller, as_alerts
from deepaid_sdk.registry import registry


def test_states_name_the_unexpected_and_the_expected_key_templates(deeplog_experiment, deeplog_alerts):
    ex, alerts = deeplog_experiment, deeplog_alerts
    interp = deepaid_sdk.create(
        "deeplog", model=ex.model, num_candidates=ex.config.num_candidates, templates=ex.templates, **RESERVED_KEYS
    )
    batch = interp.interpret_batch(alerts[:, :-1], next_keys=alerts[:, -1])
    assert registry().get("distill_states", "deeplog").factory is EditStates
    assert "replace" in EDIT_STATES
    states = EditStates().states(as_alerts(batch))
    assert len(states) == len(batch.details) == len(alerts) >= 40
    for path, d in zip(states, batch.details):
        (change,) = d["changes"]
        (state,) = path
        where = "unexpected next" if d["verdict"] == "next key" else "unexpected window"
        assert state.feature == f"{where} key {change['anomaly_key']} '{change['anomaly_template']}'"
        assert state.value == f"where key {change['reference_key']} '{change['reference_template']}' was expected"
    # records without details (e.g. JSON lines with only the changed keys) still give the edit
    plain = [
        {"changed": [int(c[0])], "anomaly_values": [int(a[c[0]])], "reference_values": [int(r[c[0]])]}
        for c, a, r in zip(batch.changed, batch.anomalies, batch.references)
    ]
    assert all(p[0].feature.startswith("unexpected window key ") for p in EditStates().states(as_alerts(plain)))
    labels = [s[0].feature for s in states]  # the analyst names each alert by its unexpected key
    rules = Distiller(EditStates()).fit(batch, labels)
    assert list(rules.predict(batch).verdicts) == labels
    assert Distiller.from_dict(json.loads(rules.to_json())) == rules
