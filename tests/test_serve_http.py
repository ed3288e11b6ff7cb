"""``deepaid serve`` over HTTP: records identical to ``deepaid explain``'s, batching, limits, auth, metrics."""

from __future__ import annotations

import json
import threading

import pytest

from deepaid_sdk.explain.records import OPTIONAL_COLUMNS
from deepaid_sdk.serve.client import ThreadServer, call
from deepaid_sdk.testing import assert_records_close


def alerts_of(files, rows):
    """The alerts of ``files``' anomaly rows as request items (ids from ``event``)."""
    return [
        {"id": f"e{i}", "features": {n: float(files.anomalies[i, j]) for j, n in enumerate(files.names)}} for i in rows
    ]


TOKEN = "t0ken-of-the-serve-tests-0123456789"


def _args(files, *extra):
    from deepaid_sdk.cli import _parser

    argv = files.cli_args(input=False, normal=True)
    argv = ["serve" if a == "explain" else a for a in argv]
    argv = [a for a in argv if a not in ("--id-column", "event", "--quiet")]
    return _parser().parse_args([*argv, *extra])


@pytest.fixture(scope="module")
def served(explain_files, tmp_path_factory):
    from deepaid_sdk.serve.command import build

    token_file = tmp_path_factory.mktemp("serve") / "token"
    token_file.write_text(TOKEN + "\n")
    app, _ = build(_args(explain_files, "--token-file", str(token_file), "--max-alerts", "40", "--max-body", "200000"))
    server = ThreadServer(app)
    yield server.port
    server.stop()


@pytest.fixture(scope="module")
def file_records(explain_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-file") / "records.jsonl"
    explain_files.explain(out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # The file's rows carry an optional column as null where another row of the file has it; a served
    # record has it only where set (its keys do not depend on the batch).
    return [{k: v for k, v in r.items() if not (k in OPTIONAL_COLUMNS and v is None)} for r in records]


def _explain(port, alerts, path="/v1/explain"):
    return call(port, path, {"alerts": alerts}, token=TOKEN)


def test_records_are_the_file_jobs(served, explain_files, file_records):
    n = len(file_records)
    status, _, body = _explain(served, alerts_of(explain_files, range(n)))
    assert status == 200, body
    assert [r["id"] for r in body["records"]] == [r["id"] for r in file_records]
    assert_records_close(body["records"], file_records)
    assert [r["changed"] for r in body["records"]] == [r["changed"] for r in file_records]
    assert [r["sentence"] for r in body["records"]] == [r["sentence"] for r in file_records]


def test_concurrent_requests_answer_as_alone(served, explain_files, file_records):
    n = len(file_records)
    alone = {i: _explain(served, alerts_of(explain_files, range(i, i + 1)))[2]["records"][0] for i in range(n)}
    got: dict[int, dict] = {}

    def one(i):
        status, _, body = _explain(served, alerts_of(explain_files, range(i, i + 1)))
        assert status == 200
        got[i] = body["records"][0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(n))
    assert_records_close([got[i] for i in range(n)], [alone[i] for i in range(n)])
    assert [got[i]["changed"] for i in range(n)] == [alone[i]["changed"] for i in range(n)]
    status, _, text = call(served, "/metrics", token=TOKEN)
    assert status == 200
    batches = [line for line in text.splitlines() if line.startswith("deepaid_serve_batch_alerts_count")]
    calls = float(batches[0].split()[-1])
    total = [line for line in text.splitlines() if line.startswith("deepaid_serve_batch_alerts_sum")]
    assert float(total[0].split()[-1]) / calls >= 1.0
    assert 'deepaid_serve_requests_total{route="/v1/explain",status="200"}' in text


def test_ocsf_findings(served, explain_files, file_records):
    status, _, body = _explain(served, alerts_of(explain_files, range(4)), "/v1/explain?format=ocsf")
    assert status == 200
    alerts = [r for r in file_records[:4] if r["alert"]]
    assert len(body["findings"]) == len(alerts)
    assert body["findings"][0]["class_uid"] == 2004


def test_model_and_health(served, explain_files):
    status, _, body = call(served, "/v1/model", token=TOKEN)
    assert status == 200
    assert body["preset"] == "tabular" and body["features"] == explain_files.names
    assert body["threshold"] is not None
    assert call(served, "/healthz")[0] == 200
    assert call(served, "/readyz")[0] == 200


def test_token_is_required(served, explain_files):
    alerts = alerts_of(explain_files, range(1))
    assert call(served, "/v1/explain", {"alerts": alerts})[0] == 401
    assert call(served, "/v1/explain", {"alerts": alerts}, token="wrong-token-wrong-token")[0] == 401
    assert call(served, "/v1/model")[0] == 401


def _features(files, **change):
    return {**alerts_of(files, range(1))[0]["features"], **change}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"alerts": [{"id": "a", "features": {"f0": NaN}}]}', 400, "f"),
        (None, 400, "not finite"),
        ({"alerts": [{"id": "a", "features": {"f0": 1.0}}]}, 400, "f1"),
        ({"alerts": [{"id": "a", "features": {"f0": "1"}}]}, 422, "features.f0"),
        ({"alerts": [{"features": {}}]}, 422, "id"),
        ({"rows": []}, 422, "rows"),
        ({"alerts": [{"id": i, "features": {}} for i in range(41)]}, 413, "at most 40"),
        (b"[" + b" " * 200001 + b"]", 413, "bytes"),
    ],
)
def test_bad_requests(served, explain_files, body, status, words):
    if body is None:
        raw = json.dumps({"alerts": [{"id": "a", "features": _features(explain_files, f2=float("inf"))}]}).encode()
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()
    got, _, answer = call(served, "/v1/explain", raw=raw, token=TOKEN)
    assert got == status, answer
    assert words in answer["error"]
    assert "Traceback" not in answer["error"]


def test_extra_feature_is_named(served, explain_files):
    status, _, body = _explain(served, [{"id": 7, "features": _features(explain_files, bogus=1.0)}])
    assert status == 400
    assert "bogus" in body["error"] and "id=7" in body["error"]


def test_non_loopback_needs_token_or_insecure(explain_files):
    from deepaid_sdk.serve.security import check_bind

    with pytest.raises(ValueError, match="--token-file"):
        check_bind("0.0.0.0", None, False)
    check_bind("0.0.0.0", None, True)
    check_bind("0.0.0.0", TOKEN, False)
    check_bind("::1", None, False)
