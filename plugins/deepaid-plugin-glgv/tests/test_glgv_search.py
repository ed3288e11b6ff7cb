"""The ``graph`` reference search: existing normal edges, valid paths, batched frontiers, errors."""

import numpy as np
import pytest
import torch

from deepaid_plugin_glgv import (
    AuthGraph,
    EdgeAdapter,
    EdgeEmbeddingDistance,
    GraphReferenceSearch,
    HopDistance,
    SameKindsConstraint,
)
from deepaid_sdk.constraints import FidelityConstraint, FrozenConstraint
from deepaid_sdk.testing import check_constraint, check_distance, check_search


@pytest.fixture(scope="module")
def setup(glgv_trained):
    data, graph, det = glgv_trained
    pairs, malicious = data.test_edges()
    ids = graph.ids(pairs)
    alerts = ids[det.score_edges(ids) > det.threshold]
    assert len(alerts) >= 5
    return graph, det, alerts


class CountingClassifier:
    """Wraps a classifier and records the batch size of every call."""

    def __init__(self, inner):
        self.inner = inner
        self.in_features = inner.in_features
        self.calls = []

    def __call__(self, features):
        self.calls.append(features.shape[0])
        return self.inner(features)


def _path_is_valid(graph, anomaly, reference, path, hops):
    ids = graph.ids(path)
    assert len(ids) == hops + 1
    assert ids[0] in anomaly
    assert graph.has_edges(np.stack([ids[:-1], ids[1:]], axis=1)).all()
    assert {int(ids[-2]), int(ids[-1])} == {int(reference[0]), int(reference[1])}


def test_references_are_existing_normal_edges_with_valid_paths(setup):
    graph, det, alerts = setup
    adapter = det.adapter()
    constraints = [FidelityConstraint(), SameKindsConstraint(graph)]
    result = check_search(GraphReferenceSearch(max_depth=3), adapter, alerts, constraints)
    assert result.flipped.all()
    assert graph.has_edges(result.references).all()
    hop = HopDistance(graph)(torch.as_tensor(result.anomalies), torch.as_tensor(result.references)).numpy()
    assert len(result.details) == len(alerts)
    for i, d in enumerate(result.details):
        assert d["found"] and d["judged_normal"]
        assert d["hops"] == hop[i] and 1 <= d["hops"] <= 3
        assert d["anomaly_kinds"] == d["reference_kinds"]
        _path_is_valid(graph, result.anomalies[i], result.references[i], d["path"], d["hops"])
        assert d["reference_score"] <= det.threshold < d["anomaly_score"]
        # changed = the endpoints that differ, and a shared endpoint keeps its position
        assert set(result.changed[i].tolist()) == set(np.flatnonzero(result.anomalies[i] != result.references[i]))
    one_hop = [i for i, d in enumerate(result.details) if d["hops"] == 1]
    assert len(one_hop) >= 5  # measured: all 11 alerts
    assert all(len(result.changed[i]) == 1 for i in one_hop)  # a neighbouring edge shares one endpoint


def test_no_normal_edge_is_nearer_than_the_reference(setup):
    graph, det, alerts = setup
    adapter = det.adapter()
    search = GraphReferenceSearch(max_depth=3, target="anomaly")
    result = search.search(adapter, alerts, [FidelityConstraint(), SameKindsConstraint(graph)])
    normal_edges = graph.edges[det.score_edges(graph.edges) <= det.threshold]
    hops_to = HopDistance(graph)
    emb = EdgeEmbeddingDistance(adapter)
    for i, alert in enumerate(alerts):  # brute force over every normal edge, one alert at a time
        kinds_ok = np.array(
            [sorted(graph.kinds[e].tolist()) == sorted(graph.kinds[alert].tolist()) for e in normal_edges]
        )
        not_self = graph.edge_keys(normal_edges) != graph.edge_keys(alert[None])[0]
        cand = normal_edges[kinds_ok & not_self]
        rep = torch.as_tensor(np.repeat(alert[None], len(cand), axis=0))
        h = hops_to(rep, torch.as_tensor(cand)).numpy()
        assert result.details[i]["hops"] == h.min()
        nearest = emb(rep[h == h.min()], torch.as_tensor(cand[h == h.min()])).min().item()
        assert result.details[i]["embedding_distance"] == pytest.approx(nearest, rel=1e-5, abs=1e-6)


def test_each_frontier_is_scored_in_one_batched_call(setup):
    graph, det, alerts = setup
    counter = CountingClassifier(det.classifier)
    # Threshold below every score: nothing is normal, so all three levels are expanded.
    adapter = EdgeAdapter(graph, det.embeddings, counter, threshold=-1.0)
    counter.calls.clear()  # the adapter probes the classifier's width once when built
    result = GraphReferenceSearch(max_depth=3, target="anomaly").search(adapter, alerts)
    scored = sum(d["candidates_scored"] for d in result.details)
    levels = max(d["levels_searched"] for d in result.details)
    assert levels == 3 and scored > 10 * len(counter.calls)
    # one call per level, plus build_batch's scores of anomalies, references and revert variants
    assert len(counter.calls) <= levels + 4
    assert max(counter.calls) >= scored // levels
    assert not result.flipped.any()
    assert all(d["found"] and not d["judged_normal"] and d["hops"] == 1 for d in result.details)


def test_ideal_embedding_is_judged_normal(setup):
    graph, det, alerts = setup
    adapter = det.adapter()
    search = GraphReferenceSearch(target="ideal")
    feats = adapter.edge_features(adapter.prepare(alerts))
    ideal, ok, _ = search.ideal_features(adapter, feats, margin=0.0, lam=0.01)
    assert ok.all()
    assert bool((adapter.score_features(ideal) <= det.threshold + 1e-6).all())
    result = search.search(adapter, alerts, [FidelityConstraint()])
    assert all(d["ideal_reached"] for d in result.details)


def test_constraints_filter_the_candidates(setup):
    graph, det, alerts = setup
    adapter = det.adapter()
    result = GraphReferenceSearch().search(adapter, alerts, [FidelityConstraint(), FrozenConstraint([0])])
    assert (result.references[:, 0] == result.anomalies[:, 0]).all()
    assert all(c.tolist() == [1] for c in result.changed)


def test_best_first_goes_only_as_deep_as_needed_and_falls_back_within_max_depth():
    g = AuthGraph.from_events([(0, "U1", "C1"), (0, "C1", "C2"), (0, "C2", "C3"), (0, "C3", "C4")])
    emb = torch.eye(g.num_nodes) + 1.0  # edge features: 2 at both endpoints, 1 elsewhere
    c3, c4 = g.index["C3"], g.index["C4"]

    def only_c3_c4(features):  # P(edge) = 1 for C3-C4 only: the one normal edge
        return ((features[:, c3] > 1.5) & (features[:, c4] > 1.5)).float()

    adapter = EdgeAdapter(g, emb, only_c3_c4, threshold=0.5)
    alert = [["U1", "C2"]]  # C3-C4 is two hops away
    shallow = GraphReferenceSearch(max_depth=1, target="anomaly").search(adapter, alert)
    d = shallow.details[0]
    assert d["found"] and not d["judged_normal"] and d["hops"] == 1 and not shallow.flipped[0]
    for depth in (2, 3):
        deep = GraphReferenceSearch(max_depth=depth, target="anomaly").search(adapter, alert)
        d = deep.details[0]
        assert deep.flipped[0] and d["hops"] == 2 and d["levels_searched"] == 2
        assert d["path"] == ["C2", "C3", "C4"] and sorted(d["reference_edge"]) == ["C3", "C4"]


def _two_logins(normal_pairs):
    """U1 -> C1 and U2 -> C2; the alert U1 -> C2 has one neighbour edge per endpoint. ``normal_pairs`` are normal."""
    g = AuthGraph.from_events([(0, "U1", "C1"), (0, "U2", "C2")])
    emb = torch.eye(g.num_nodes) + 1.0  # edge features: 2 at both endpoints, 1 elsewhere
    pairs = [(g.index[a], g.index[b]) for a, b in normal_pairs]

    def classifier(features):
        return torch.stack([(features[:, a] > 1.5) & (features[:, b] > 1.5) for a, b in pairs]).any(dim=0).float()

    return EdgeAdapter(g, emb, classifier, threshold=0.5)


def test_keep_prefers_the_chosen_endpoint_and_falls_back_when_it_has_no_normal_edge():
    both = _two_logins([("U1", "C1"), ("U2", "C2")])
    alert = [["U1", "C2"]]
    names = {
        keep: GraphReferenceSearch(keep=keep, target="anomaly").search(both, alert).details[0]["reference_edge"]
        for keep in ("source", "destination")
    }
    assert names == {"source": ["U1", "C1"], "destination": ["U2", "C2"]}
    # The account's only edge is not normal: "source" changes the account rather than give no reference.
    host_only = _two_logins([("U2", "C2")])
    soft = GraphReferenceSearch(keep="source", target="anomaly").search(host_only, alert)
    assert soft.flipped[0] and soft.details[0]["reference_edge"] == ["U2", "C2"] and soft.changed[0].tolist() == [0]
    hard = GraphReferenceSearch(keep="source", target="anomaly").search(
        host_only, alert, [FidelityConstraint(), FrozenConstraint([0])]
    )
    assert not hard.flipped[0] and hard.details[0]["reference_edge"][0] == "U1"


def test_search_errors_name_the_argument(setup):
    graph, det, alerts = setup
    with pytest.raises(ValueError, match="max_depth: expected an integer >= 1; got 0"):
        GraphReferenceSearch(max_depth=0)
    with pytest.raises(TypeError, match="max_depth: expected an integer"):
        GraphReferenceSearch(max_depth=2.5)
    with pytest.raises(ValueError, match="target: expected one of"):
        GraphReferenceSearch(target="nearest")
    with pytest.raises(ValueError, match=r"keep: expected one of \('source', 'destination', 'either'\); got 'account'"):
        GraphReferenceSearch(keep="account")
    with pytest.raises(ValueError, match="keep: expected one of .*; got 0"):
        GraphReferenceSearch(keep=0)
    with pytest.raises(ValueError, match=r"anomalies: 1 node\(s\) not in the graph: \['C_GHOST'\]"):
        GraphReferenceSearch().search(det.adapter(), [[graph.names[0], "C_GHOST"]])
    from deepaid_sdk.model.adapters import ScoreAdapter

    other = ScoreAdapter(lambda x: x.sum(dim=1), threshold=0.0, sample_shape=(2,))
    with pytest.raises(TypeError, match="adapter: the graph search needs an EdgeAdapter"):
        GraphReferenceSearch().search(other, [[0.0, 1.0]])


def test_distances_conform_on_graph_edges(setup):
    graph, det, _ = setup
    rng = np.random.default_rng(0)
    a, b, c = (torch.as_tensor(graph.edges[rng.integers(0, graph.num_edges, 8)]) for _ in range(3))
    check_distance(HopDistance(graph), (2,), a=a, b=b, c=c)
    check_distance(EdgeEmbeddingDistance(det.embeddings), (2,), a=a, b=b, c=c)
    hops = HopDistance(graph)(a, b).numpy()
    np.testing.assert_array_equal(hops, graph.hop_distances(a.numpy(), b.numpy()))
    with pytest.raises(ValueError, match=r"distance graph-hops: node ids must lie in \[0, 57\)"):
        HopDistance(graph)(torch.tensor([[0, 99]]), torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match=r"expected edges \[B, 2\]"):
        EdgeEmbeddingDistance(det.embeddings)(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


def test_same_kinds_constraint_conforms(setup):
    graph, _, alerts = setup
    anomalies = torch.as_tensor(alerts[:6])
    refs = torch.as_tensor(graph.edges[:6])
    check_constraint(SameKindsConstraint(graph), (2,), refs=refs, anomalies=anomalies)
    assert SameKindsConstraint(graph).satisfied(anomalies, anomalies).all()


def test_alerts_searched_in_groups_match_one_batch(setup):
    graph, det, alerts = setup
    adapter = det.adapter()
    constraints = [FidelityConstraint(), SameKindsConstraint(graph)]
    whole = GraphReferenceSearch().search(adapter, alerts, constraints)
    grouped = GraphReferenceSearch(group=2).search(adapter, alerts, constraints)
    np.testing.assert_array_equal(whole.references, grouped.references)
    assert [d["path"] for d in whole.details] == [d["path"] for d in grouped.details]
