"""The Distiller: states, rules, predict/triage, rules as data, improve, CLI (property tests for invariants)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepaid_sdk.cli import main
from deepaid_sdk.distill import (
    UNKNOWN,
    AllowList,
    Distiller,
    IntervalStates,
    State,
    as_alerts,
    retraining_set,
)
from deepaid_sdk.distill.files import triage_records
from deepaid_sdk.registry import registry
from deepaid_sdk.results import InterpretationBatch

D = 8
NAMES = [f"f{i}" for i in range(D)]
NORMAL = np.random.default_rng(0).normal(size=(2000, D))
STATES = IntervalStates.fit(NORMAL, NAMES)


def record(changed, values, rid=None):
    return {
        "id": rid,
        "changed": list(changed),
        "anomaly_values": list(values),
        "reference_values": [0.0] * len(values),
    }


# -- states -----------------------------------------------------------------------------------


def test_intervals_are_named_for_a_person():
    q99, q999, top = np.quantile(NORMAL[:, 2], [0.99, 0.999, 1.0])
    (path,) = STATES.states(as_alerts([record([2, "f3", 4], [(q99 + q999) / 2, top * 3, 0.0])]))
    assert path[0] == State("f2", "in the top 1% of normal", 8)
    assert path[1] == State("f3", "above every normal value", 10)
    assert path[2].value == "in the middle 50% of normal"
    low = np.min(NORMAL[:, 0]) - 1
    assert STATES.states(as_alerts([record([0], [low])]))[0][0].value == "below every normal value"


def test_states_reject_unknown_features_and_bad_edges():
    with pytest.raises(ValueError, match="unknown feature name 'bytes'"):
        STATES.states(as_alerts([record(["bytes"], [1.0])]))
    with pytest.raises(ValueError, match="feature index 9 out of range for 8 features"):
        STATES.states(as_alerts([record([9], [1.0])]))
    with pytest.raises(ValueError, match="edges: expected finite cut points, increasing"):
        IntervalStates(["a"], [[1.0, 0.0]], ["x", "y", "z"])
    with pytest.raises(ValueError, match="quantiles: expected increasing values strictly between 0 and 1"):
        IntervalStates.fit(NORMAL, quantiles=(0.5, 0.2))


def test_the_core_extractor_is_registered_through_the_hook():
    comp = registry().get("distill_states", "intervals")
    assert comp.provider == "deepaid_sdk.builtins" and comp.factory is IntervalStates


# -- fit / predict ----------------------------------------------------------------------------

TOP = float(NORMAL.max()) * 2


def _training():
    recs = [
        record([0, 1], [TOP, TOP]),
        record([1, 0], [TOP, TOP * 1.1]),
        record([2, 3], [TOP, TOP]),
        record([4, 5], [TOP, TOP]),
    ]
    return recs, ["scan", "scan", "flood", "false_positive"]


def test_predict_labels_similar_alerts_flags_unseen_ones_and_suppresses_false_positives():
    recs, labels = _training()
    d = Distiller(STATES).fit(recs, labels)
    assert d.verdicts == ("scan", "flood", "false_positive")
    new = [record([0, 1], [TOP * 3, TOP]), record([6, 7], [TOP, TOP]), record([4, 5], [TOP * 5, TOP])]
    p = d.predict(new)
    assert p.verdicts == ("scan", UNKNOWN, "false_positive")
    assert p.rule[1] == -1 and p.rule_text[1] is None and p.rule_text[0].startswith("#0 scan: f0 above")
    assert p.suppressed.tolist() == [False, False, True]
    assert p.confidence[0] == pytest.approx(1.0) and p.confidence[1] == 0.0


def test_fsm_mode_scores_partly_matching_paths_between_exact_and_unrelated():
    recs, labels = _training()
    d = Distiller(STATES, mode="fsm", min_score=0.3).fit(recs, labels)
    p = d.predict([record([0, 1], [TOP, TOP]), record([0, 7], [TOP, TOP]), record([7, 6], [TOP, TOP])])
    assert p.verdicts == ("scan", "scan", UNKNOWN)
    assert 0.3 <= p.confidence[1] < p.confidence[0] == 1.0


def test_rules_count_support_and_read_as_text():
    recs, labels = _training()
    d = Distiller(STATES).fit(recs + [recs[0]], labels + ["scan"])
    assert d.rules[0].support == 2
    text = d.to_text()
    assert "scan: 2 rules from 3 alerts" in text
    assert "false_positive [suppressed]: 1 rules from 1 alerts" in text
    assert "#0 (x2) f0 above every normal value -> f1 above every normal value" in text


def test_fit_and_predict_errors_name_the_argument():
    recs, labels = _training()
    with pytest.raises(ValueError, match=r"verdicts: expected one label per interpretation \(4\); got 3"):
        Distiller(STATES).fit(recs, labels[:3])
    with pytest.raises(ValueError, match="verdicts: expected non-empty labels other than 'unknown'"):
        Distiller(STATES).fit(recs, ["unknown"] * 4)
    with pytest.raises(ValueError, match="rules: this Distiller has no rules yet"):
        Distiller(STATES).predict(recs)
    with pytest.raises(ValueError, match=r"min_score: expected a value in \[0, 1\]; got 2.0"):
        Distiller(STATES, min_score=2)
    with pytest.raises(TypeError, match="interpretations: expected an InterpretationBatch"):
        Distiller(STATES).fit("alerts.jsonl", labels)
    with pytest.raises(ValueError, match="data.format: expected 'deepaid-distill/1'"):
        Distiller.from_dict({"rules": []})
    with pytest.raises(ValueError, match=r"data.rules\[0\].support: expected a positive integer"):
        Distiller.from_dict(
            {**Distiller(STATES).fit(recs, labels).to_dict(), "rules": [{"verdict": "x", "support": 0, "states": []}]}
        )


# -- properties -------------------------------------------------------------------------------

paths = st.lists(
    st.tuples(st.integers(0, D - 1), st.floats(-4, 4, allow_nan=False)),
    min_size=1,
    max_size=4,
    unique_by=lambda t: t[0],
)
alert_sets = st.lists(
    st.tuples(paths, st.sampled_from(["scan", "flood", "false_positive", "dos"])), min_size=1, max_size=25
)


def _consistent(items):
    """Records and verdicts, identical state paths sharing the first one's verdict (an analyst is consistent)."""
    recs = [record([c for c, _ in p], [v for _, v in p]) for p, _ in items]
    first: dict = {}
    labels = []
    for path, (_, label) in zip(STATES.states(as_alerts(recs)), items):
        labels.append(first.setdefault(path, label))
    return recs, labels


@settings(max_examples=60, deadline=None)
@given(alert_sets, st.sampled_from(["path", "fsm"]))
def test_fit_then_predict_on_the_training_alerts_returns_their_verdicts(items, mode):
    recs, labels = _consistent(items)
    d = Distiller(STATES, mode=mode).fit(recs, labels)
    p = d.predict(recs)
    assert list(p.verdicts) == labels
    assert np.all(p.confidence == 1.0)


@settings(max_examples=40, deadline=None)
@given(alert_sets, st.sampled_from(["path", "fsm"]), st.floats(0, 1))
def test_rules_survive_to_dict_and_from_dict_unchanged(items, mode, min_score):
    recs, labels = _consistent(items)
    d = Distiller(STATES, mode=mode, min_score=min_score).fit(recs, labels)
    text = json.dumps(d.to_dict(), allow_nan=False)
    back = Distiller.from_dict(json.loads(text))
    assert back == d and back.to_dict() == d.to_dict() and back.to_text() == d.to_text()
    np.testing.assert_array_equal(back.states.edges, STATES.edges)


@settings(max_examples=40, deadline=None)
@given(alert_sets, alert_sets)
def test_suppression_never_drops_a_record(train, queue):
    recs, labels = _consistent(train)
    d = Distiller(STATES).fit(recs, labels)
    incoming = [{**r, "id": i, "score": 1.5} for i, r in enumerate(_consistent(queue)[0])]
    out = d.annotate(incoming)
    assert len(out) == len(incoming)
    for before, after in zip(incoming, out):
        assert {k: after[k] for k in before} == before
        assert after["suppressed"] == (after["verdict"] == "false_positive")
        assert (after["rule"] is None) == (after["verdict"] == UNKNOWN)


# -- improve ----------------------------------------------------------------------------------


def _batch():
    rng = np.random.default_rng(1)
    anomalies = rng.normal(size=(4, D)) + 5
    references = anomalies.copy()
    references[:, :2] = 0.0
    changed = tuple(np.array([0, 1]) for _ in range(4))
    return InterpretationBatch(
        anomalies=anomalies,
        references=references,
        changed=changed,
        scores=np.full(4, 2.0),
        reference_scores=np.full(4, 0.5),
        flipped=np.ones(4, dtype=bool),
        steps=np.ones(4, dtype=np.int64),
        threshold=1.0,
        seconds=0.0,
    )


def test_retraining_set_walks_from_each_false_positives_reference_to_it():
    batch = _batch()
    rs = retraining_set(batch, ["scan", "false_positive", "scan", "false_positive"], points=4)
    assert rs.rows.shape == (8, D) and rs.alerts == 2 and rs.source.tolist() == [1] * 4 + [3] * 4
    np.testing.assert_allclose(rs.rows[3], batch.anomalies[1])
    np.testing.assert_allclose(rs.rows[0], batch.references[1] + 0.25 * (batch.anomalies[1] - batch.references[1]))
    with pytest.raises(ValueError, match=r"marks: expected one mark per alert \(4\)"):
        retraining_set(batch, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="points: expected a positive integer"):
        retraining_set(batch, np.ones(4, dtype=bool), points=0)


def test_allow_list_holds_the_false_positive_rules_and_suppresses_their_matches():
    recs, labels = _training()
    allow = AllowList(Distiller(STATES).fit(recs, labels))
    assert allow.entries == (3,)
    assert allow.allowed([record([4, 5], [TOP, TOP]), record([0, 1], [TOP, TOP])]).tolist() == [True, False]
    assert "#3 false_positive (x1): f4 above every normal value" in allow.to_text()


def test_interpretation_batches_are_read_with_their_changed_indices():
    alerts = as_alerts(_batch())
    assert alerts[0].changed == (0, 1) and alerts[0].reference_values == (0.0, 0.0)
    d = Distiller(STATES).fit(_batch(), ["a"] * 4)
    assert d.predict(_batch()).verdicts == ("a",) * 4


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_distils_rules_and_triages_explain_records(tmp_path, capsys):
    recs, labels = _training()
    named = [{**r, "id": f"a{i}", "changed": [NAMES[c] for c in r["changed"]]} for i, r in enumerate(recs)]
    (tmp_path / "alerts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in named))
    (tmp_path / "verdicts.jsonl").write_text(
        "".join(json.dumps({"id": r["id"], "verdict": v}) + "\n" for r, v in reversed(list(zip(named, labels))))
    )
    (tmp_path / "normal.csv").write_text(",".join(NAMES) + "\n" + "\n".join(",".join(map(str, row)) for row in NORMAL))
    rules = tmp_path / "rules.json"
    assert (
        main(
            [
                "distill",
                "--interpretations",
                str(tmp_path / "alerts.jsonl"),
                "--verdicts",
                str(tmp_path / "verdicts.jsonl"),
                "--output",
                str(rules),
                "--normal",
                str(tmp_path / "normal.csv"),
            ]
        )
        == 0
    )
    assert "wrote 4 rules" in capsys.readouterr().out
    assert (
        main(
            [
                "triage",
                "--interpretations",
                str(tmp_path / "alerts.jsonl"),
                "--rules",
                str(rules),
                "--output",
                str(tmp_path / "out.jsonl"),
            ]
        )
        == 0
    )
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["verdict"] for o in out] == labels and [o["suppressed"] for o in out] == [False] * 3 + [True]
    assert triage_records(named, rules) == out
    assert (
        main(
            [
                "distill",
                "--interpretations",
                str(tmp_path / "alerts.jsonl"),
                "--verdicts",
                str(tmp_path / "verdicts.jsonl"),
                "--output",
                str(rules),
            ]
        )
        == 2
    )
    assert "give --normal FILE" in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(alert_sets, alert_sets, st.sampled_from(["path", "fsm"]))
def test_a_rows_verdict_does_not_depend_on_its_batch(train, queue, mode):
    import deepaid_sdk.distill.distiller as distiller_module

    recs, labels = _consistent(train)
    d = Distiller(STATES, mode=mode, min_score=0.3).fit(recs, labels)
    incoming = _consistent(queue)[0]
    whole = d.predict(incoming)
    saved = distiller_module._BLOCK
    distiller_module._BLOCK = 1  # one alert per chunk
    try:
        chunked = d.predict(incoming)
    finally:
        distiller_module._BLOCK = saved
    alone = [d.predict([r]) for r in incoming]
    assert chunked.verdicts == whole.verdicts == tuple(p.verdicts[0] for p in alone)
    np.testing.assert_allclose(whole.confidence, [p.confidence[0] for p in alone])
    np.testing.assert_array_equal(whole.rule, chunked.rule)


def test_retraining_set_moves_each_false_positives_changes_onto_normal_contexts():
    batch = _batch()
    contexts = np.random.default_rng(2).normal(size=(30, D))
    rs = retraining_set(
        batch, ["false_positive", "scan", "scan", "false_positive"], points=2, contexts=contexts, per_alert=5
    )
    assert rs.rows.shape == (2 * 2 + 2 * 5, D) and rs.source.tolist() == [0, 0, 3, 3] + [0] * 5 + [3] * 5
    moved = rs.rows[4:].reshape(2, 5, D)
    np.testing.assert_allclose(moved[:, :, :2], np.repeat(batch.anomalies[[0, 3]][:, None, :2], 5, axis=1))
    assert all(any(np.allclose(row[2:], c[2:]) for c in contexts) for row in moved.reshape(-1, D))
    with pytest.raises(ValueError, match=r"contexts: expected normal rows \[N, 8\]; got shape \[30, 3\]"):
        retraining_set(batch, np.ones(4, dtype=bool), contexts=contexts[:, :3])


def test_verdict_files_are_read_by_id_from_csv_or_in_order_from_plain_text(tmp_path):
    from deepaid_sdk.distill.files import read_records, read_verdicts

    records = [{"id": "a", "changed": [0]}, {"id": "b", "changed": [1]}]
    (tmp_path / "v.csv").write_text("id,verdict\nb,flood\na,scan\n")
    assert read_verdicts(tmp_path / "v.csv", records) == ["scan", "flood"]
    (tmp_path / "v.txt").write_text("scan\n\nflood\n")
    assert read_verdicts(tmp_path / "v.txt", [{"changed": [0]}, {"changed": [1]}]) == ["scan", "flood"]
    (tmp_path / "v2.csv").write_text("id,verdict\na,scan\n")
    with pytest.raises(ValueError, match=r"verdicts: no verdict for record ids \['b'\]"):
        read_verdicts(tmp_path / "v2.csv", records)
    (tmp_path / "batch.json").write_text(json.dumps(_batch().to_dict()))
    assert [r["changed"] for r in read_records(tmp_path / "batch.json")] == [[0, 1]] * 4
    (tmp_path / "bad.jsonl").write_text('{"changed": [0]}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2 is not JSON"):
        read_records(tmp_path / "bad.jsonl")
