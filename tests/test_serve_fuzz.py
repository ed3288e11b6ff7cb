"""A fuzz of ``POST /v1/explain`` bodies: whatever the body, the answer is JSON and never a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepaid_sdk.serve.client import ThreadServer, call

NAMES = [f"f{i}" for i in range(6)]
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.lists(st.floats(), max_size=2),
)
features = st.one_of(
    st.fixed_dictionaries({n: st.floats(-5, 5) for n in NAMES}),
    st.dictionaries(st.sampled_from([*NAMES, "bogus", ""]), values, max_size=8),
    values,
)
alerts = st.lists(
    st.one_of(
        st.fixed_dictionaries({"id": st.one_of(st.text(max_size=4), st.integers(), st.floats()), "features": features}),
        st.dictionaries(st.text(max_size=8), values, max_size=3),
        values,
    ),
    max_size=4,
)
bodies = st.one_of(
    st.fixed_dictionaries({"alerts": alerts}),
    st.dictionaries(st.text(max_size=8), values, max_size=3),
    values,
)


@pytest.fixture(scope="module")
def port(explain_files):
    from deepaid_sdk.cli import _parser
    from deepaid_sdk.serve.command import build

    argv = explain_files.cli_args(input=False, normal=True)
    argv = ["serve" if a == "explain" else a for a in argv if a not in ("--id-column", "event", "--quiet")]
    app, _ = build(_parser().parse_args(argv))
    server = ThreadServer(app)
    yield server.port
    server.stop()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, raw=st.booleans(), garbage=st.binary(max_size=20))
def test_no_server_error(port, body, raw, garbage):
    data = garbage if raw else json.dumps(body).encode()  # json.dumps writes NaN / Infinity as Python reads them
    status, _, answer = call(port, "/v1/explain", raw=data)
    assert status < 500, answer
    assert isinstance(answer, dict)
    assert ("records" in answer) if status == 200 else ("error" in answer)
