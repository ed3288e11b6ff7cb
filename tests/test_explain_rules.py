"""`deepaid explain --rules`: the Distiller's triage on every output record, none dropped."""

import json

import numpy as np

from deepaid_sdk.cli import main
from deepaid_sdk.distill import Distiller
from deepaid_sdk.distill.states import IntervalStates
from deepaid_sdk.explain.job import explain_file

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
MODEL_ARGS = {"width": 6, "hidden": 12, "bottleneck": 3}  # as the explain_files fixture trains it


def test_explain_with_rules_adds_the_triage_to_every_record(explain_files, tmp_path, capsys):
    first = tmp_path / "first.jsonl"
    explain_file(
        "tabular",
        FACTORY,
        explain_files.csv,
        first,
        normal=explain_files.normal_csv,
        percentile=95,
        k=2,
        id_column="event",
        quiet=True,
        **explain_files.model_options(),
    )
    records = [json.loads(line) for line in first.read_text().splitlines()]
    alerts = [r for r in records if r["alert"]]
    assert len(alerts) >= 4
    # an analyst labels the alerts by their first changed feature
    verdicts = [f"cause-{r['changed'][0]}" if r["changed"] else "false_positive" for r in alerts]
    rules = Distiller(IntervalStates.fit(explain_files.normal, explain_files.names)).fit(alerts, verdicts)
    rules_path = tmp_path / "rules.json"
    rules_path.write_text(rules.to_json())

    out = tmp_path / "triaged.jsonl"
    code = main(
        [
            "explain",
            "tabular",
            "--model",
            FACTORY,
            "--model-args",
            json.dumps(MODEL_ARGS),
            "--weights",
            str(explain_files.weights),
            "--input",
            str(explain_files.csv),
            "--output",
            str(out),
            "--normal",
            str(explain_files.normal_csv),
            "--percentile",
            "95",
            "--k",
            "2",
            "--id-column",
            "event",
            "--rules",
            str(rules_path),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    triaged = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in triaged] == [r["id"] for r in records]  # nothing dropped, same order
    by_id = {r["id"]: r for r in triaged}
    for record, verdict in zip(alerts, verdicts):
        got = by_id[record["id"]]
        assert got["verdict"] == verdict  # the training alerts get their own verdicts back
        assert got["confidence"] == 1.0 and got["rule"]  # its own path is a rule: an exact match
        assert got["suppressed"] is (verdict == "false_positive")
    assert all(set(r) >= {"verdict", "confidence", "rule", "suppressed"} for r in triaged)
    assert np.all([r["suppressed"] == (r["verdict"] == "false_positive") for r in triaged])
    quiet = [r for r in triaged if not r["alert"]]
    assert quiet and all(r["verdict"] is None and r["rule"] is None and r["suppressed"] is False for r in quiet)
