"""The authentication graph: building, node kinds, edge lists, lookups, batched hops."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepaid_plugin_glgv import AuthGraph, default_node_kind, read_edge_list

EVENTS = [
    (1.0, "U1", "C1"),
    (2.0, "U1", "C1"),
    (3.0, "C1", "U1"),
    (1.5, "U1", "S1"),
    (4.0, "U2", "C2"),
    (5.0, "C1", "C2"),
    (6.0, "C2", "S1"),
    (7.0, "U3", "C3"),
]


def test_nodes_are_typed_and_edges_counted_in_either_direction():
    g = AuthGraph.from_events(EVENTS)
    assert g.num_nodes == 7 and g.num_edges == 6
    assert dict(zip(g.names.tolist(), g.kind_names(range(g.num_nodes)))) == {
        "C1": "host",
        "C2": "host",
        "C3": "host",
        "S1": "service",
        "U1": "user",
        "U2": "user",
        "U3": "user",
    }
    e = g.edges[g.edge_keys(g.edges) == g.edge_keys(g.ids([["U1", "C1"]]))][0]
    i = int(np.flatnonzero((g.edges == e).all(axis=1))[0])
    assert g.counts[i] == 3 and g.first_seen[i] == 1.0 and g.last_seen[i] == 3.0
    assert g.nx.edges[int(e[0]), int(e[1])]["count"] == 3
    assert g.nx.nodes[g.index["S1"]] == {"name": "S1", "kind": "service"}
    assert g.describe() == {"nodes": 7, "edges": 6, "users": 3, "hosts": 3, "services": 1}


def test_csr_adjacency_matches_networkx():
    g = AuthGraph.from_events(EVENTS + [(8.0, "C3", "C3")])
    for node in range(g.num_nodes):
        csr = set(g.indices[g.indptr[node] : g.indptr[node + 1]].tolist())
        assert csr == set(g.nx.neighbors(node)), node
    owner, near, far = g.expand(np.array([0, 1]), g.ids(["C1", "C3"]))
    assert set(zip(owner.tolist(), g.node_names(far))) == {(0, "U1"), (0, "C2"), (1, "U3"), (1, "C3")}
    assert (near[owner == 0] == g.index["C1"]).all()


def test_node_kinds_from_a_mapping_a_callable_and_the_default_rule():
    names = {"alice": "user", "web": "service", "db": "host"}
    g = AuthGraph.from_events([(0, "alice", "db"), (1, "db", "web")], node_kind=names)
    assert g.kind_names(g.ids(["alice", "web", "db"])) == ["user", "service", "host"]
    g2 = AuthGraph.from_events([(0, "alice", "db")], node_kind=lambda n: "user" if n == "alice" else "host")
    assert g2.kind_names(g2.ids(["alice", "db"])) == ["user", "host"]
    with pytest.raises(ValueError, match=r"node_kind: expected kinds among .*'robot'"):
        AuthGraph.from_events([(0, "alice", "db")], node_kind=lambda n: "robot")
    with pytest.raises(ValueError, match=r"node_kind: no kind given for nodes \['db'\]"):
        AuthGraph.from_events([(0, "alice", "db")], node_kind={"alice": "user"})
    names = np.array(["U7@DOM1", "C586", "SYSTEM", "u1", "x"])
    g3 = AuthGraph.from_arrays(np.zeros(5), names, names[::-1])
    assert g3.kind_names(range(5)) == [default_node_kind(n) for n in g3.names.tolist()]


def test_edge_list_skips_comments_and_reports_every_malformed_line(tmp_path):
    good = tmp_path / "auth.txt"
    good.write_text("# time src dst\n\n1 U1 C1\n2.5 U2 C1\n")
    t, s, d = read_edge_list(good)
    assert t.tolist() == [1.0, 2.5] and s.tolist() == ["U1", "U2"] and d.tolist() == ["C1", "C1"]
    csv = tmp_path / "auth.csv"
    csv.write_text("1,U1,C1\n2,U2,C2\n")
    assert AuthGraph.from_edge_list(csv).num_edges == 2
    lines = ["1 U1 C1", "2 U1", "", "x U2 C2", "3 U3 C3 extra", "4 U4 C4", "inf U5 C5"]
    with pytest.raises(ValueError) as err:
        read_edge_list(lines)
    message = str(err.value)
    assert "4 malformed line(s)" in message
    for number in (2, 4, 5, 7):
        assert f"line {number}:" in message
    assert "line 1:" not in message and "line 6:" not in message
    assert "'x' is not a number" in message
    with pytest.raises(ValueError, match="no events"):
        read_edge_list(["# only a comment", ""])
    with pytest.raises(TypeError, match="source: expected a path or an iterable of lines"):
        read_edge_list(42)


def test_bad_events_are_rejected_with_the_argument_named():
    with pytest.raises(ValueError, match=r"time/src/dst: expected equal lengths; got 2, 1, 1"):
        AuthGraph.from_arrays([0, 1], ["U1"], ["C1"])
    with pytest.raises(ValueError, match=r"events: expected \(time, src, dst\) triples; rows \[1\]"):
        AuthGraph.from_events([(0, "U1", "C1"), ("U2", "C2")])
    with pytest.raises(ValueError, match=r"time: events \[0\] have no finite time"):
        AuthGraph.from_arrays([np.nan], ["U1"], ["C1"])
    with pytest.raises(ValueError, match="empty node name"):
        AuthGraph.from_arrays([0.0], ["U1"], [""])


def test_unknown_nodes_and_out_of_range_ids_are_named():
    g = AuthGraph.from_events(EVENTS)
    with pytest.raises(ValueError, match=r"alerts: 2 node\(s\) not in the graph: \['U9', 'C9'\]"):
        g.ids([["U9", "C1"], ["U1", "C9"]], "alerts")
    with pytest.raises(ValueError, match=r"x: node ids must lie in \[0, 7\).*rows \[1\]"):
        g.check_ids(np.array([[0, 1], [2, 7]]))
    assert g.has_edges(g.ids([["C1", "U1"], ["U1", "C2"]])).tolist() == [True, False]


def _reference_hops(g: AuthGraph, a, b) -> float:
    if {a[0], a[1]} == {b[0], b[1]}:
        return 0.0
    best = np.inf
    for x in set(a):
        lengths = nx.single_source_shortest_path_length(g.nx, int(x))
        for y in set(b):
            best = min(best, lengths.get(int(y), np.inf))
    return best + 1


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), min_size=1, max_size=30),
    st.integers(0, 2**31 - 1),
    st.one_of(st.none(), st.integers(1, 3)),
)
def test_batched_hop_distances_match_networkx(pairs, seed, max_depth):
    g = AuthGraph.from_arrays(np.zeros(len(pairs)), [f"C{a}" for a, _ in pairs], [f"C{b}" for _, b in pairs])
    rng = np.random.default_rng(seed)
    a = rng.integers(0, g.num_nodes, size=(6, 2))
    b = rng.integers(0, g.num_nodes, size=(6, 2))
    got = g.hop_distances(a, b, max_depth)
    want = np.array([_reference_hops(g, x, y) for x, y in zip(a.tolist(), b.tolist())], dtype=float)
    if max_depth is not None:
        want[want > max_depth] = np.inf
    np.testing.assert_array_equal(got, want)


def test_shortest_path_starts_at_the_nearest_source():
    g = AuthGraph.from_events(EVENTS)
    path = g.shortest_path(g.ids(["U1", "U2"]), g.index["C2"])
    assert g.node_names(path) == ["U2", "C2"]
    with pytest.raises(ValueError, match="not reachable"):
        g.shortest_path(g.ids(["U1"]), g.index["U3"])
