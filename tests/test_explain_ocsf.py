"""`deepaid explain --format ocsf`: one OCSF 1.5 Detection Finding per alert, validated against the schema."""

import copy
import json

import pytest

from deepaid_sdk.cli import main
from deepaid_sdk.distill import Distiller
from deepaid_sdk.distill.states import IntervalStates
from deepaid_sdk.explain.job import explain_file
from deepaid_sdk.explain.ocsf import OCSF_VERSION, severity
from deepaid_sdk.explain.ocsf_schema import validate

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
MODEL_ARGS = {"width": 6, "hidden": 12, "bottleneck": 3}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _command(files, out, *extra):
    return files.cli_args("--percentile", "95", "--k", "2", *extra, output=out)


@pytest.fixture(scope="module")
def runs(explain_files, tmp_path_factory):
    """The same job as records and as findings, and with rules fitted on the records' alerts."""
    root = tmp_path_factory.mktemp("ocsf")
    kw = dict(normal=explain_files.normal_csv, percentile=95, k=2, id_column="event", quiet=True)
    explain_file("tabular", FACTORY, explain_files.csv, root / "records.jsonl", **kw, **explain_files.model_options())
    records = _lines(root / "records.jsonl")
    alerts = [r for r in records if r["alert"]]
    benign = alerts[0]["changed"][0]  # the analyst calls the alerts led by one feature false positives
    verdicts = [f"cause-{r['changed'][0]}" if r["changed"][0] != benign else "false_positive" for r in alerts]
    rules = Distiller(IntervalStates.fit(explain_files.normal, explain_files.names)).fit(alerts, verdicts)
    (root / "rules.json").write_text(rules.to_json())
    assert main(_command(explain_files, root / "findings.jsonl", "--format", "ocsf")) == 0
    assert (
        main(_command(explain_files, root / "ruled.jsonl", "--format", "ocsf", "--rules", str(root / "rules.json")))
        == 0
    )
    return root, records, _lines(root / "findings.jsonl"), _lines(root / "ruled.jsonl"), dict(zip(
        [r["id"] for r in alerts], verdicts
    ))  # fmt: skip


def test_one_valid_finding_per_alert_carrying_the_record(runs):
    root, records, findings, _, _ = runs
    alerts = [r for r in records if r["alert"]]
    assert len(alerts) < len(records) and len(findings) == len(alerts)  # rows that are no alert have none
    manifest = json.loads((root / "findings.jsonl.manifest.json").read_text())
    for record, f in zip(alerts, findings):
        validate(f)
        assert (f["class_uid"], f["category_uid"], f["activity_id"], f["type_uid"]) == (2004, 2, 1, 200401)
        assert f["metadata"]["version"] == OCSF_VERSION
        product = f["metadata"]["product"]
        assert product["name"] == "deepaid-sdk" and product["feature"]["name"] == "tabular"
        assert product["feature"]["uid"] == "deepaid-plugin-tabular:tabular"
        assert f["finding_info"]["uid"] == record["id"] and f["finding_info"]["desc"] == record["sentence"]
        assert f["time"] == manifest["started_ms"] > 1_600_000_000_000  # ms, the job's start
        assert (f["severity_id"], f["severity"]) == severity(record["score"], record["threshold"])
        (analysis,) = f["anomaly_analyses"]
        assert [a["observation_parameter"] for a in analysis["anomalies"]] == record["changed"]
        assert [float(a["observations"][0]["value"]) for a in analysis["anomalies"]] == record["anomaly_values"]
        assert [float(b["observations"][0]["value"]) for b in analysis["baselines"]] == record["reference_values"]
        assert analysis["analysis_targets"] == [{"name": record["id"], "type": "row"}]
        assert "verdict" not in f and f["status_id"] == 1
        assert f["unmapped"]["deepaid"]["score"] == record["score"]


def test_rules_give_each_finding_its_verdict(runs):
    _, _, findings, ruled, verdicts = runs
    assert [f["finding_info"]["uid"] for f in ruled] == [f["finding_info"]["uid"] for f in findings]
    for f in ruled:
        validate(f)
        want = verdicts[f["finding_info"]["uid"]]
        assert "incident" in f["metadata"]["profiles"]
        if want == "false_positive":
            assert (f["verdict_id"], f["verdict"], f["status_id"], f["status"]) == (
                1,
                "False Positive",
                3,
                "Suppressed",
            )
        else:
            assert (f["verdict_id"], f["verdict"], f["status_id"]) == (99, want, 1)
        assert f["confidence_score"] == 100  # each training alert matches its own rule exactly
        assert f"Rules: {want} (confidence 1)" in f["finding_info"]["desc"]


def test_the_schema_catches_what_ocsf_does_not_allow(runs):
    finding = runs[2][0]
    validate(finding)

    def broken(change):
        f = copy.deepcopy(finding)
        change(f)
        with pytest.raises(ValueError, match="ocsf: "):
            validate(f)

    broken(lambda f: f["anomaly_analyses"][0]["anomalies"][0].pop("observation_parameter"))
    broken(lambda f: f["anomaly_analyses"][0]["baselines"][0]["observations"][0].update(value=1.5))  # string_t
    broken(lambda f: f["anomaly_analyses"][0].pop("analysis_targets"))
    broken(lambda f: f.update(type_uid=200402))  # not class_uid * 100 + activity_id
    broken(lambda f: f.update(class_uid=2001))
    broken(lambda f: f["metadata"].update(version="1.1.0"))
    broken(lambda f: f.update(severity_id=7))
    broken(lambda f: f["finding_info"].pop("uid"))
    broken(lambda f: f.update(anomaly_analysis=f["anomaly_analyses"][0]))  # 1.5 names it anomaly_analyses
    broken(lambda f: f.update(time=1.5))


@pytest.mark.parametrize(
    "score, threshold, expected",
    [(1.5, 1.0, 2), (2.0, 1.0, 2), (3.0, 1.0, 3), (11.0, 1.0, 4), (12.0, 1.0, 5), (1.0, 0.0, 2), (4.0, 0.0, 4)],
)
def test_severity_follows_the_excess_over_the_threshold(score, threshold, expected):
    assert severity(score, threshold)[0] == expected
    assert severity(None, 0.5) == (0, "Unknown")


def test_format_errors_are_one_line_naming_the_argument(explain_files, tmp_path, capsys):
    assert main(_command(explain_files, tmp_path / "f.parquet", "--format", "ocsf")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deepaid explain: error: format: OCSF findings are JSON lines") and ".jsonl" in err
    assert "\n" not in err and not (tmp_path / "f.parquet").exists()
    with pytest.raises(SystemExit) as exc:
        main(_command(explain_files, tmp_path / "f.jsonl", "--format", "xml"))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "argument --format" in err and "'jsonl', 'parquet', 'ocsf'" in err and "\n" not in err
    with pytest.raises(ValueError, match="format: expected one of jsonl, parquet, ocsf; got 'xml'"):
        explain_file("tabular", FACTORY, explain_files.csv, tmp_path / "g.jsonl", format="xml", threshold=1.0)
