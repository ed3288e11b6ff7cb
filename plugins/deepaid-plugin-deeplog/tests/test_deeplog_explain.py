"""``deepaid explain deeplog`` on files: raw log lines, key ids and key sequences grouped into sessions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import torch

from deepaid_plugin_deeplog.distill_states import EditStates
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS
from deepaid_plugin_deeplog.parsing import HDFS_BLOCK_ID, LogKeyParser, group_sessions
from deepaid_plugin_deeplog.preset import deeplog_interpreter
from deepaid_sdk import explain_file
from deepaid_sdk.distill.alerts import as_alerts
from deepaid_sdk.distill.files import read_records
from deepaid_sdk.testing import assert_records_close

FACTORY = "deepaid_plugin_deeplog.model:DeepLog"


@pytest.fixture(scope="module")
def deeplog_files(deeplog_experiment, tmp_path_factory):
    """The small experiment's model (state dict), its saved parser, and its test log as .log / CSV files."""
    ex = deeplog_experiment
    root = tmp_path_factory.mktemp("deeplog-explain")
    torch.save(ex.model.state_dict(), root / "deeplog.pt")
    ex.parser.save(root / "parser.json")
    lines = list(ex.test_log.lines[:1500])
    (root / "test.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    blocks = [re.search(HDFS_BLOCK_ID, line).group(0) for line in lines]
    pcsv.write_csv(pa.table({"block": blocks, "line": lines}), root / "test.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keys = LogKeyParser.load(root / "parser.json").transform(lines)
    pq.write_table(pa.table({"block": blocks, "key": keys}), root / "keys.parquet")
    return {
        "root": root,
        "lines": lines,
        "keys": keys,
        "model_args": ex.model.config(),
        "templates": ex.parser.templates,
        "model": ex.model,
    }


def _explain(files, src, out, **kw):
    kw.setdefault("options", {"parser": str(files["root"] / "parser.json")})
    kw.setdefault("k", 3)
    return explain_file(
        "deeplog",
        FACTORY,
        src,
        out,
        model_args=files["model_args"],
        weights=files["root"] / "deeplog.pt",
        quiet=True,
        **kw,
    )


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def deeplog_log_records(deeplog_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("deeplog-out") / "sessions.jsonl"
    summary = _explain(deeplog_files, deeplog_files["root"] / "test.log", out, batch_size=64)
    return summary, _records(out)


def test_raw_log_lines_become_one_record_per_session(deeplog_files, deeplog_log_records):
    summary, records = deeplog_log_records
    lines = deeplog_files["lines"]
    sessions = group_sessions(lines, deeplog_files["keys"])  # the plugin's own grouping, in first-seen order
    assert [r["id"] for r in records] == list(sessions.ids) and summary.rows == len(sessions)
    assert summary.text().startswith(f"explained {len(sessions)} sessions: ")
    interp = deeplog_interpreter(deeplog_files["model"], templates=deeplog_files["templates"], k=3, **RESERVED_KEYS)
    direct = interp.interpret_sessions(list(sessions.keys))
    assert [r["alert"] for r in records] == [bool(d.flagged) for d in direct]
    assert [r["flipped"] for r in records] == [d.flipped for d in direct]
    assert [r["score"] for r in records] == [float(len(d.flagged)) for d in direct]
    assert sorted(tuple(r["changed"]) for r in records) == sorted(
        tuple(f"{e.kind} at {e.position}" for e in sorted(d.edits, key=lambda e: (-len(e.fixes), e.position)))
        for d in direct
    )
    alerts = [r for r in records if r["alert"]]
    assert len(alerts) >= 10 and summary.alerts == len(alerts)
    assert np.mean([r["flipped"] for r in alerts]) >= 0.9
    kinds = {r["details"]["changes"][0]["op"] for r in alerts if r["changed"]}
    assert kinds & {"insert", "delete"}, "the planted inserts and deletes are explained as such"
    # Every edit is shown with the templates of the keys it touches: a replace both, a delete the old key's,
    # an insert the new key's.
    changes = [c for r in alerts for c in r["details"]["changes"]]
    assert len(changes) >= len(alerts) - 1 and {c["op"] for c in changes} >= {"replace", "delete"}
    templates = deeplog_files["templates"]
    for c in changes:
        assert c["anomaly_template"] == (None if c["op"] == "insert" else templates[c["anomaly_key"]])
        assert c["reference_template"] == (None if c["op"] == "delete" else templates[c["reference_key"]])
    # How ambiguous each explanation is: the count of single-edit fixes and the runners-up, as the search gave them.
    by_id = dict(zip(sessions.ids, direct))
    for r in records:
        d, res = r["details"], by_id[r["id"]]
        assert d["alternatives"] == res.alternatives and len(d["next_best"]) == len(res.next_best)
        assert [(c["op"], c["position"], c["log_likelihood"]) for c in d["next_best"]] == [
            (e.kind, e.position, pytest.approx(e.log_likelihood)) for e in res.next_best
        ]
    single = [r for r in alerts if r["details"]["alternatives"] >= 1 and len(r["changed"]) == 1]
    assert len(single) >= 10
    for r in single:  # one edit made it normal: its log-likelihood is given, no runner-up beats it by much
        ll = r["details"]["log_likelihood"]
        assert ll is not None and ll < 0 and r["details"]["changes"][0]["log_likelihood"] == ll
        assert len(r["details"]["next_best"]) == min(3, r["details"]["alternatives"] - 1)


def test_a_table_of_lines_and_a_column_of_keys_give_the_same_sessions(deeplog_files, deeplog_log_records, tmp_path):
    _, from_log = deeplog_log_records
    _explain(
        deeplog_files,
        deeplog_files["root"] / "test.csv",
        tmp_path / "csv.jsonl",
        id_column="block",
        columns=["line"],
        batch_size=1000,
    )
    assert_records_close(_records(tmp_path / "csv.jsonl"), from_log)  # batch 1000 vs 64: the same records


def test_keys_without_a_parser_take_the_reserved_keys_as_options(deeplog_files, deeplog_log_records, tmp_path):
    _, from_log = deeplog_log_records
    # As --option values are JSON, template ids arrive as strings ("3"): they are read as key ids.
    options = {"pad_key": 0, "unknown_key": 1, "templates": {str(k): v for k, v in deeplog_files["templates"].items()}}
    _explain(
        deeplog_files,
        deeplog_files["root"] / "keys.parquet",
        tmp_path / "keys.jsonl",
        id_column="block",
        columns=["key"],
        options=options,
        batch_size=5,
    )
    assert_records_close(_records(tmp_path / "keys.jsonl"), from_log)


def test_an_interrupted_session_job_resumes_to_the_same_output(deeplog_files, deeplog_log_records, tmp_path):
    _, from_log = deeplog_log_records

    class Field:
        fingerprint = {"field": "counter"}

        def __init__(self, stop_at):
            self.calls, self.stop_at = 0, stop_at

        def __call__(self, records):
            self.calls += 1
            if self.calls == self.stop_at:
                raise KeyboardInterrupt
            return {"n": [0] * records.num_rows}

    out = tmp_path / "o.jsonl"
    with pytest.raises(KeyboardInterrupt):
        _explain(deeplog_files, deeplog_files["root"] / "test.log", out, batch_size=16, fields=[Field(3)])
    assert (tmp_path / "o.jsonl.parts" / "staged.parquet").is_file() and not out.exists()
    summary = _explain(
        deeplog_files, deeplog_files["root"] / "test.log", out, batch_size=16, fields=[Field(0)], resume=True
    )
    assert summary.resumed_rows == 32
    assert_records_close([{k: v for k, v in r.items() if k != "n"} for r in _records(out)], from_log)


def test_session_records_feed_the_distiller(deeplog_log_records):
    summary, _ = deeplog_log_records
    records = read_records(summary.output)  # the explain output file as the Distiller reads it
    alerts = as_alerts([r for r in records if r["changed"]])
    states = EditStates().states(alerts)
    texts = {s.text for row in states for s in row}
    assert any(t.startswith("in session missing") or t.startswith("in session extra") for t in texts)
    assert all(len(row) >= 1 for row in states)


def test_session_input_errors_say_what_to_pass(deeplog_files, tmp_path):
    root = deeplog_files["root"]
    with pytest.raises(ValueError, match=r"parser: raw log lines need the drain3 parser .* --option parser=FILE"):
        _explain(deeplog_files, root / "test.log", tmp_path / "a.jsonl", options={})
    with pytest.raises(ValueError, match=r"id_column: key ids, one per row, are grouped into sessions by --id-column"):
        _explain(deeplog_files, root / "keys.parquet", tmp_path / "b.jsonl", columns=["key"], options={})
    with pytest.raises(ValueError, match=r"normal: the deeplog input calibrates no threshold"):
        _explain(deeplog_files, root / "test.log", tmp_path / "c.jsonl", normal=np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"unit: rows of log lines or key ids make sessions"):
        _explain(
            deeplog_files,
            root / "test.log",
            tmp_path / "d.jsonl",
            options={"parser": str(root / "parser.json"), "unit": "windows"},
        )
    with pytest.raises(ValueError, match=r"parser: expected a saved LogKeyParser"):
        (tmp_path / "p.json").write_text("{}")
        _explain(deeplog_files, root / "test.log", tmp_path / "e.jsonl", options={"parser": str(tmp_path / "p.json")})
    small = LogKeyParser()
    small.fit_transform(["only one kind of line here"])
    small.save(tmp_path / "small.json")
    pq.write_table(pa.table({"block": ["b"] * 3, "key": [2, 3, 99]}), tmp_path / "far.parquet")
    with pytest.raises(ValueError, match=r"session id='b': key ids must lie in \[0, \d+\)"):
        _explain(
            deeplog_files,
            tmp_path / "far.parquet",
            tmp_path / "f.jsonl",
            columns=["key"],
            id_column="block",
            options={},
        )


def test_unmatched_and_orphan_lines_are_counted_not_dropped_silently(deeplog_files, tmp_path):
    lines = deeplog_files["lines"][:60] + ["a line that no template matches blk_424242", "no block id at all"]
    (tmp_path / "odd.log").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning) as caught:
        summary = _explain(deeplog_files, tmp_path / "odd.log", tmp_path / "o.jsonl")
    text = " ".join(str(w.message) for w in caught)
    assert "1 of 62 lines hold no session id" in text
    assert re.search(r"\d+ of 62 log lines matched no template", text)
    records = _records(tmp_path / "o.jsonl")
    assert "blk_424242" in [r["id"] for r in records] and summary.rows == len(records)


def test_the_command_line_explains_a_log_file(deeplog_files, tmp_path):
    root = deeplog_files["root"]
    out = tmp_path / "cli.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "deepaid_sdk.cli",
        "explain",
        "deeplog",
        "--model",
        FACTORY,
        "--model-args",
        json.dumps(deeplog_files["model_args"]),
        "--weights",
        str(root / "deeplog.pt"),
        "--input",
        str(root / "test.log"),
        "--output",
        str(out),
        "--option",
        f"parser={root / 'parser.json'}",
        "--k",
        "3",
        "--quiet",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["rows"] == len(_records(out)) and summary["columns"] == ["line"]


def test_sessions_run_on_ray_as_on_one_machine(deeplog_files, deeplog_log_records, tmp_path):
    _, from_log = deeplog_log_records
    summary = _explain(
        deeplog_files,
        deeplog_files["root"] / "test.log",
        tmp_path / "ray.jsonl",
        batch_size=16,
        engine="ray",
        workers=1,
    )
    assert summary.engine == "ray"
    assert_records_close(_records(tmp_path / "ray.jsonl"), from_log)


def test_every_session_record_has_a_grounded_sentence_naming_its_edits(deeplog_files, deeplog_log_records):
    from deepaid_sdk.explain.sentences import readable, ungrounded

    _, records = deeplog_log_records
    alerts = [r for r in records if r["alert"]]
    assert alerts and len(alerts) < len(records)
    for r in records:
        assert ungrounded(r["sentence"], r) == [], r["sentence"]
        keys = readable(r["details"]["keys"])
        if not r["alert"]:
            assert r["sentence"] == f"All of {keys} keys of the session were among the model's guesses: no alert."
            continue
        assert r["sentence"].startswith(f"{readable(r['score'])} of {keys} keys were not among")
        for change in r["details"]["changes"][:3]:
            assert f" at {change['position']}" in r["sentence"]
            template = change["reference_template"] or change["anomaly_template"]
            assert template.split()[0] in r["sentence"]  # the log template, not only the key id
    fixed = next(r for r in alerts if r["flipped"] and r["details"]["changes"])
    assert "The detector accepts the session after: " in fixed["sentence"]
    position = str(fixed["details"]["changes"][0]["position"])
    wrong = fixed["sentence"].replace(f" at {position}", f" at {int(position) + 1000}", 1)
    assert ungrounded(wrong, fixed) == [str(int(position) + 1000)]


def test_session_alerts_become_valid_ocsf_findings(deeplog_files, deeplog_log_records, tmp_path):
    from deepaid_sdk.explain.ocsf import severity
    from deepaid_sdk.explain.ocsf_schema import validate

    _, records = deeplog_log_records
    out = tmp_path / "findings.jsonl"
    _explain(deeplog_files, deeplog_files["root"] / "test.log", out, batch_size=64, format="ocsf")
    findings = _records(out)
    alerts = [r for r in records if r["alert"]]
    assert [f["finding_info"]["uid"] for f in findings] == [r["id"] for r in alerts]
    for f, r in zip(findings, alerts):
        validate(f)
        assert f["finding_info"]["desc"] == r["sentence"]
        assert f["metadata"]["product"]["feature"]["uid"] == "deepaid-plugin-deeplog:deeplog"
        (analysis,) = f["anomaly_analyses"]
        assert analysis["analysis_targets"] == [{"name": r["id"], "type": "session"}]
        if r["changed"]:
            assert [a["observation_parameter"] for a in analysis["anomalies"]] == r["changed"]  # "replace at 12"
        assert f["severity_id"] == severity(r["score"], 0.0)[0]  # threshold 0: severity by keys flagged
