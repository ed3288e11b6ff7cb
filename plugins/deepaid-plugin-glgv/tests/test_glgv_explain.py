"""``deepaid explain glgv``: files of alert edges (tables and text edge lists) explained by a saved detector.

Ray is not tested here (a local cluster alone takes over 10 s); the Ray engine reads the same staged
Parquet file and calls the same ``explain`` per batch, and ``batch_size=1`` against 1000 below holds
the records to what Ray needs: they do not depend on how rows are batched.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from deepaid_plugin_glgv.explain_input import EdgeListInput, stage_edge_list
from deepaid_sdk import explain_file
from deepaid_sdk.cli import main as cli_main
from deepaid_sdk.explain.inputs import STAGED_NAME
from deepaid_sdk.explain.sources import Source
from deepaid_sdk.testing import assert_records_close


@pytest.fixture(scope="module")
def files(glgv_trained, tmp_path_factory):
    """The detector's two files, and the test period's unique edges as a CSV table and a text edge list."""
    data, graph, det = glgv_trained
    folder = tmp_path_factory.mktemp("glgv-explain")
    det.save(folder / "glgv.pt")
    t, s, d = data.train
    (folder / "train.txt").write_text("# time src dst\n" + "".join(f"{a:.6f} {b} {c}\n" for a, b, c in zip(t, s, d)))
    pairs, malicious = data.test_edges()
    pd.DataFrame(
        {"alert_id": [f"e{i}" for i in range(len(pairs))], "dst": pairs[:, 1], "when": 1.5, "src": pairs[:, 0]}
    ).to_csv(folder / "alerts.csv", index=False)
    # A comment, a blank line, then one edge per line with a blank line after the fifth: ids are line numbers.
    lines = ["# alert edges", ""] + [f"{i + 0.5} {a}\t{b}" for i, (a, b) in enumerate(pairs)]
    lines.insert(7, "   ")
    (folder / "alerts.txt").write_text("\n".join(lines) + "\n")
    numbers = [n for n, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    return {
        "dir": folder,
        "model": folder / "glgv.pt",
        "graph": str(folder / "train.txt"),
        "pairs": pairs,
        "malicious": malicious,
        "lines": numbers,
        "graph_obj": graph,
        "det": det,
    }


def _run(files, name, output, **kwargs):
    options = kwargs.pop("options", {"graph": files["graph"]})
    return explain_file(
        "glgv", files["model"], files["dir"] / name, files["dir"] / output, options=options, quiet=True, **kwargs
    )


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_table_gives_one_record_per_edge_with_named_references(files):
    graph, det, pairs = files["graph_obj"], files["det"], files["pairs"]
    summary = _run(files, "alerts.csv", "table.jsonl", id_column="alert_id")
    records = _records(files["dir"] / "table.jsonl")
    assert summary.rows == len(records) == len(pairs)
    assert [r["id"] for r in records] == [f"e{i}" for i in range(len(pairs))]
    alert = np.array([r["alert"] for r in records])
    np.testing.assert_array_equal(alert, det.score_edges(pairs) > det.threshold)  # the detector's own verdict
    malicious = files["malicious"]
    assert alert[malicious].mean() >= 2 / 3 and not alert[~malicious].any()  # planted edges alert, habits do not
    assert 0 < alert.sum() < len(records)  # both kinds of record are checked below
    for r, (src, dst) in zip(records, pairs):
        d = r["details"]
        assert d["anomaly_edge"] == [src, dst] and r["threshold"] == pytest.approx(det.threshold)
        if not r["alert"]:
            assert r["changed"] == [] and d["reference_edge"] == d["anomaly_edge"] and d["path"] == []
            continue
        ref = d["reference_edge"]
        assert r["flipped"] and d["judged_normal"] and d["found"]
        assert graph.has_edges(graph.ids([ref])).all() and det.score_edges([ref])[0] <= det.threshold
        assert set(r["changed"]) == {e for e, a, b in zip(("src", "dst"), d["anomaly_edge"], ref) if a != b} != set()
        at = [("src", "dst").index(c) for c in r["changed"]]  # values are node ids; details hold the names
        assert r["anomaly_values"] == graph.ids([d["anomaly_edge"][i] for i in at]).tolist()
        assert r["reference_values"] == graph.ids([ref[i] for i in at]).tolist()
        assert d["path"][0] in d["anomaly_edge"] and set(d["path"][-2:]) == set(ref) and d["hops"] == len(d["path"]) - 1
    assert sum(r["alert"] for r in records) == summary.alerts >= 5


def test_a_text_edge_list_is_numbered_by_line_and_matches_the_table(files):
    _run(files, "alerts.csv", "table.parquet")
    summary = _run(files, "alerts.txt", "text.parquet")
    text = pd.read_parquet(files["dir"] / "text.parquet")
    table = pd.read_parquet(files["dir"] / "table.parquet")
    assert summary.rows == len(text) == len(files["pairs"])
    assert text["id"].tolist() == files["lines"] and text["id"].tolist()[:6] == [3, 4, 5, 6, 7, 9]
    assert table["id"].tolist() == list(range(len(files["pairs"])))  # a table without --id-column: row numbers
    pd.testing.assert_frame_equal(text.drop(columns="id"), table.drop(columns="id"))


def test_records_do_not_depend_on_the_batch_size(files):
    _run(files, "alerts.txt", "one.jsonl", batch_size=1)
    _run(files, "alerts.txt", "all.jsonl", batch_size=1000)
    one, whole = _records(files["dir"] / "one.jsonl"), _records(files["dir"] / "all.jsonl")
    assert sum(r["alert"] for r in whole) >= 5
    for key in ("id", "alert", "flipped", "changed", "anomaly_values", "reference_values", "steps", "details"):
        assert [r[key] for r in one] == [r[key] for r in whole], key
    for key in ("score", "reference_score"):  # float32 sums may round differently in another batch shape
        np.testing.assert_allclose([r[key] for r in one], [r[key] for r in whole], rtol=1e-5)


def test_staging_reads_chunks_of_lines_and_names_malformed_lines(files, tmp_path):
    stage_edge_list(files["dir"] / "alerts.txt", tmp_path / "a.parquet", None, lines_per_chunk=4)
    stage_edge_list(files["dir"] / "alerts.txt", tmp_path / "b.parquet", None)
    small, big = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(small, big)
    assert small["line"].tolist() == files["lines"] and small[["src", "dst"]].values.tolist() == files["pairs"].tolist()
    bad = tmp_path / "bad.txt"
    bad.write_text("1 U00 C00\n# fine\n2 U00\nx U00 C01\n3 U01 C01\n")
    with pytest.raises(ValueError, match=r"2 malformed line\(s\).*line 3: .*\(2 fields\).*line 4: .*not a number"):
        stage_edge_list(bad, tmp_path / "c.parquet", None, lines_per_chunk=2)
    assert not list(tmp_path.glob("c.parquet*"))  # nothing half-written left behind
    reader = EdgeListInput(graph=files["graph"])
    source = Source(files["dir"] / "alerts.txt", 10)
    (tmp_path / STAGED_NAME).write_bytes((tmp_path / "a.parquet").read_bytes())
    staged = reader.stage(source, ["line"], None, tmp_path, quiet=True)  # a resumed job's file is reused
    assert staged.path == tmp_path / STAGED_NAME and staged.columns == ("src", "dst") and staged.id_column == "line"
    assert reader.stage(Source(files["dir"] / "alerts.csv", 10), ["src", "dst"], None, tmp_path, True) is None


def test_an_interrupted_job_resumes_and_a_changed_graph_is_refused(files, monkeypatch):
    expected = _run(files, "alerts.txt", "whole.jsonl", batch_size=10)
    calls = {"n": 0}
    original = EdgeListInput.to_records

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EdgeListInput, "to_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(files, "alerts.txt", "resumed.jsonl", batch_size=10)
    monkeypatch.setattr(EdgeListInput, "to_records", original)
    with monkeypatch.context() as m:
        m.setattr(
            "deepaid_plugin_glgv.explain_input.stage_edge_list",
            lambda *a, **k: pytest.fail("the staged file of the interrupted job was not reused"),
        )
        resumed = _run(files, "alerts.txt", "resumed.jsonl", batch_size=10, resume=True)
    assert resumed.resumed_rows == 30 and resumed.rows == expected.rows == len(files["pairs"])
    assert (files["dir"] / "resumed.jsonl").read_text() == (files["dir"] / "whole.jsonl").read_text()
    again = _run(files, "alerts.txt", "resumed.jsonl", batch_size=10, resume=True)  # complete: nothing to do
    assert again.resumed_rows == again.rows == expected.rows
    other = files["dir"] / "train-copy.txt"
    shutil.copy(files["graph"], other)
    with pytest.raises(ValueError, match="resume: the options differ.*graph"):
        _run(files, "alerts.txt", "resumed.jsonl", batch_size=10, resume=True, options={"graph": str(other)})
    _run(files, "alerts.txt", "copy.jsonl", batch_size=10, options={"graph": str(other)})
    with other.open("a") as fh:
        fh.write("# the same graph, another file\n")
    with pytest.raises(ValueError, match="resume: the options differ .*input_files"):
        _run(files, "alerts.txt", "copy.jsonl", batch_size=10, resume=True, options={"graph": str(other)})


def test_threshold_overrides_the_detectors_own(files):
    det = files["det"]
    summary = _run(files, "alerts.csv", "strict.jsonl", threshold=0.85)
    records = _records(files["dir"] / "strict.jsonl")
    assert {r["threshold"] for r in records} == {0.85}
    np.testing.assert_array_equal([r["alert"] for r in records], det.score_edges(files["pairs"]) > 0.85)
    assert 0 < summary.alerts < (det.score_edges(files["pairs"]) > det.threshold).sum()


def test_edges_touching_unseen_nodes_are_reported_not_refused(files, tmp_path):
    unknown = tmp_path / "unknown.csv"
    pd.DataFrame({"src": ["U00", "U999", "U00", "Unew"], "dst": ["C00", "C00", "Cnew", "Cnew"]}).to_csv(
        unknown, index=False
    )
    explain_file("glgv", files["model"], unknown, tmp_path / "x.jsonl", options={"graph": files["graph"]}, quiet=True)
    records = _records(tmp_path / "x.jsonl")
    assert [r["id"] for r in records] == [0, 1, 2, 3]
    details = [r["details"] for r in records]
    assert details[0]["status"] in ("explained", "normal") and records[0]["score"] is not None
    assert [d["status"] for d in details[1:]] == ["unseen-node"] * 3
    assert [d["unseen_nodes"] for d in details[1:]] == [["U999"], ["Cnew"], ["Unew", "Cnew"]]
    assert all(r["score"] is None and r["alert"] and not r["flipped"] for r in records[1:])
    assert "no embedding" in details[1]["reason"]
    # the known row's record is the one it gets alone
    alone = tmp_path / "alone.csv"
    pd.DataFrame({"src": ["U00"], "dst": ["C00"]}).to_csv(alone, index=False)
    explain_file("glgv", files["model"], alone, tmp_path / "y.jsonl", options={"graph": files["graph"]}, quiet=True)
    assert _records(tmp_path / "y.jsonl")[0] == records[0]


def test_errors_name_the_argument_and_what_to_pass(files, tmp_path):
    with pytest.raises(ValueError, match=r"graph: .*pass --option graph=FILE"):
        _run(files, "alerts.csv", "x.jsonl", options={})
    with pytest.raises(ValueError, match=r"graph: no such file"):
        _run(files, "alerts.csv", "x.jsonl", options={"graph": str(tmp_path / "none.txt")})
    with pytest.raises(ValueError, match=r"columns: expected two columns.*got 3: \['src', 'dst', 'when'\]"):
        _run(files, "alerts.csv", "x.jsonl", columns=["src", "dst", "when"])
    with pytest.raises(ValueError, match=r"columns: no column \['from'\]"):
        _run(files, "alerts.csv", "x.jsonl", columns=["from", "dst"])
    with pytest.raises(ValueError, match=r"weights: the glgv input takes no --weights; --model is the file GLGV.save"):
        _run(files, "alerts.csv", "x.jsonl", weights=files["model"])
    with pytest.raises(ValueError, match=r"normal: the glgv input calibrates no threshold"):
        _run(files, "alerts.csv", "x.jsonl", normal=files["dir"] / "alerts.csv")
    with pytest.raises(ValueError, match=r"columns: a text edge list .* has no columns"):
        _run(files, "alerts.txt", "x.jsonl", columns=["src", "dst"])
    small = tmp_path / "small.txt"  # another graph: the embeddings do not fit its nodes
    small.write_text("0 U00 C00\n1 U01 C00\n")
    with pytest.raises(ValueError, match=r"model: .* does not fit the graph of --option graph=.*small.txt.*3 nodes"):
        _run(files, "alerts.csv", "x.jsonl", options={"graph": str(small)})
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match=r"model: .*other.pt' is not a GLGV state dict"):
        explain_file(
            "glgv",
            other,
            files["dir"] / "alerts.csv",
            tmp_path / "x.jsonl",
            options={"graph": files["graph"]},
            quiet=True,
        )
    bad = tmp_path / "bad.txt"
    bad.write_text("1 U00 C00\n\n2 U00 C00 extra\n")
    with pytest.raises(ValueError, match=r"1 malformed line\(s\).*line 3: '2 U00 C00 extra' \(4 fields\)"):
        explain_file("glgv", files["model"], bad, tmp_path / "x.jsonl", options={"graph": files["graph"]}, quiet=True)


def test_cli_explains_an_edge_list_with_the_graph_option(files, capsys):
    out = files["dir"] / "cli.jsonl"
    argv = [
        "explain",
        "glgv",
        "--model",
        str(files["model"]),
        "--input",
        str(files["dir"] / "alerts.txt"),
        "--output",
        str(out),
        "--quiet",
    ]
    assert cli_main([*argv, "--option", f"graph={files['graph']}"]) == 0
    assert f"explained {len(files['pairs'])} edges" in capsys.readouterr().out
    assert [r["id"] for r in _records(out)] == files["lines"]
    assert cli_main([*argv, "--overwrite"]) == 2
    assert "pass --option graph=FILE" in capsys.readouterr().err
    # --option delimiter=, reads both the graph and the alerts as comma-separated fields.
    for name in ("train", "alerts"):
        lines = (files["dir"] / f"{name}.txt").read_text().splitlines()
        (files["dir"] / f"{name}-comma.txt").write_text("\n".join(",".join(line.split()) for line in lines) + "\n")
    comma = [
        *argv[:5],
        str(files["dir"] / "alerts-comma.txt"),
        "--output",
        str(files["dir"] / "comma.jsonl"),
        "--quiet",
        "--option",
        f"graph={files['dir'] / 'train-comma.txt'}",
    ]
    assert cli_main(comma) == 2
    assert "expected 2 fields (src dst) or 3 (with a time); got 1" in capsys.readouterr().err
    assert cli_main([*comma, "--option", "delimiter=,"]) == 0
    assert_records_close(_records(files["dir"] / "comma.jsonl"), _records(out))


def test_an_alerts_ideal_embedding_does_not_depend_on_its_batch(files):
    det, pairs = files["det"], files["pairs"]
    from deepaid_plugin_glgv import GraphReferenceSearch

    adapter = det.adapter()
    alerts = adapter.prepare(pairs[det.score_edges(pairs) > det.threshold])
    features = adapter.edge_features(alerts)
    search = GraphReferenceSearch()
    together, _, mode = search.ideal_features(adapter, features, margin=0.0, lam=0.01)
    assert mode == "gradient"
    alone = [search.ideal_features(adapter, features[i : i + 1], margin=0.0, lam=0.01)[0] for i in range(3)]
    np.testing.assert_allclose(torch.cat(alone).numpy(), together[:3].numpy(), rtol=1e-4, atol=1e-6)


def test_every_edge_record_has_a_grounded_sentence_and_each_alert_a_valid_ocsf_finding(files, tmp_path):
    from deepaid_sdk.explain.ocsf_schema import validate
    from deepaid_sdk.explain.sentences import readable, ungrounded

    edges = pd.read_csv(files["dir"] / "alerts.csv")
    mixed = tmp_path / "mixed.csv"
    pd.concat([edges, pd.DataFrame({"alert_id": ["new"], "src": ["U999"], "dst": ["C00"]})]).to_csv(mixed, index=False)
    _run(files, mixed, tmp_path / "mixed.jsonl", id_column="alert_id")
    records = _records(tmp_path / "mixed.jsonl")
    for r in records:
        assert ungrounded(r["sentence"], r) == [], r["sentence"]
        src, dst = r["details"]["anomaly_edge"]
        assert r["sentence"].startswith(f"Login {src} -> {dst}")
    explained = next(r for r in records if r["details"]["status"] == "explained")
    ref = explained["details"]["reference_edge"]
    assert f"accepts is {ref[0]} -> {ref[1]}" in explained["sentence"]
    hops = explained["details"]["hops"]
    assert f"{readable(hops)} hop{'' if hops == 1 else 's'} away" in explained["sentence"]
    assert next(r for r in records if not r["alert"])["sentence"].endswith("no alert.")
    unseen = records[-1]
    assert "U999 is not in the training graph" in unseen["sentence"]
    wrong = explained["sentence"].replace(f"scores {readable(explained['score'])}", "scores 0.123", 1)
    assert ungrounded(wrong, explained) == ["0.123"]  # a number the record does not hold is caught

    _run(files, mixed, tmp_path / "findings.jsonl", id_column="alert_id", format="ocsf")
    findings = _records(tmp_path / "findings.jsonl")
    alerts = [r for r in records if r["alert"]]
    assert [f["finding_info"]["uid"] for f in findings] == [r["id"] for r in alerts]
    for f, r in zip(findings, alerts):
        validate(f)
        assert f["metadata"]["product"]["feature"]["uid"] == "deepaid-plugin-glgv:glgv"
        assert f["finding_info"]["desc"] == r["sentence"]
        assert f["anomaly_analyses"][0]["analysis_targets"][0]["type"] == "edge"
    assert findings[-1]["severity_id"] == 0 and findings[-1]["anomaly_analyses"][0]["anomalies"][0] == {
        "observation_parameter": "score",
        "observation_type": "Deviation Analysis",
        "observations": [{"value": "none"}],
    }  # an unseen node: no score, severity Unknown
