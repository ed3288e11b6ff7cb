"""GL-GV's model: random walks, skip-gram embeddings, the link classifier, the edge adapter."""

import numpy as np
import pytest
import torch

from deepaid_plugin_glgv import (
    GLGV,
    AuthGraph,
    EdgeAdapter,
    LinkClassifier,
    enterprise,
    random_walks,
    sample_non_edges,
    train_skipgram,
)
from deepaid_sdk.testing import check_adapter


def two_cliques() -> AuthGraph:
    a = [f"C{i}" for i in range(6)]
    b = [f"C{i}" for i in range(6, 12)]
    pairs = [(x, y) for group in (a, b) for i, x in enumerate(group) for y in group[i + 1 :]] + [("C0", "C6")]
    return AuthGraph.from_arrays(np.arange(len(pairs)), [p[0] for p in pairs], [p[1] for p in pairs])


@pytest.fixture(scope="module")
def tiny(glgv_trained):
    """The session's trained detector (conftest): trained once for every glgv test module."""
    _, graph, det = glgv_trained
    return graph, det


def test_random_walks_follow_edges_and_are_seeded():
    g = two_cliques()
    walks = random_walks(g, walks_per_node=3, walk_length=7, seed=1)
    assert walks.shape == (g.num_nodes * 3, 7)
    assert (walks[:, 0] == np.repeat(np.arange(g.num_nodes), 3)).all()
    steps = np.stack([walks[:, :-1].reshape(-1), walks[:, 1:].reshape(-1)], axis=1)
    assert g.has_edges(steps).all()
    np.testing.assert_array_equal(walks, random_walks(g, walks_per_node=3, walk_length=7, seed=1))
    assert not np.array_equal(walks, random_walks(g, walks_per_node=3, walk_length=7, seed=2))
    with pytest.raises(ValueError, match="walk_length: expected an integer >= 2"):
        random_walks(g, walk_length=1)


def test_skipgram_embeds_communities_apart():
    g = two_cliques()
    emb = train_skipgram(
        random_walks(g, walks_per_node=20, walk_length=10, seed=0), g.num_nodes, dim=8, epochs=3, seed=0
    )
    assert emb.shape == (12, 8) and bool(torch.isfinite(emb).all())
    unit = torch.nn.functional.normalize(emb, dim=1)
    cos = unit @ unit.T
    group = torch.tensor([int(n[1:]) >= 6 for n in g.names.tolist()])
    same = group[:, None] == group[None, :]
    off_diag = ~torch.eye(12, dtype=torch.bool)
    assert cos[same & off_diag].mean() > cos[~same].mean() + 0.3
    with pytest.raises(ValueError, match=r"walks: node ids must lie in \[0, 5\)"):
        train_skipgram(np.array([[0, 7]]), 5)


def test_non_edges_keep_kinds_and_are_not_edges(tiny):
    graph, _ = tiny
    neg = sample_non_edges(graph, 300, seed=4)
    assert neg.shape == (300, 2)
    assert not graph.has_edges(neg).any()
    kinds = graph.kinds[neg]
    edge_kind_pairs = {tuple(sorted(k)) for k in graph.kinds[graph.edges].tolist()}
    assert {tuple(sorted(k)) for k in kinds.tolist()} <= edge_kind_pairs


def test_classifier_separates_edges_from_non_edges(tiny):
    graph, det = tiny
    pos = det.score_edges(graph.edges)
    neg = det.score_edges(sample_non_edges(graph, 500, seed=9))
    ranks = np.concatenate([pos, neg]).argsort().argsort()
    auc = 1 - (ranks[: pos.size].sum() - pos.size * (pos.size - 1) / 2) / (pos.size * neg.size)
    assert auc > 0.8
    assert np.mean(pos <= det.threshold) == pytest.approx(0.99, abs=0.01)


def test_edge_adapter_conforms_and_reads_node_names(tiny):
    graph, det = tiny
    adapter = det.adapter()
    check_adapter(adapter, graph.edges[:20])
    by_name = adapter.prepare(np.array(graph.names[graph.edges[:3]]), "edges")
    assert by_name.dtype == torch.int64 and (by_name.numpy() == graph.edges[:3]).all()
    assert adapter.prepare(graph.edges[:2].astype(float)).dtype == torch.int64


def test_edge_adapter_rejects_bad_edges(tiny):
    graph, det = tiny
    adapter = det.adapter()
    with pytest.raises(ValueError, match=r"alerts: 1 node\(s\) not in the graph: \['U999'\]"):
        adapter.prepare([["U999", graph.names[0]]], "alerts")
    with pytest.raises(ValueError, match=r"x: expected edges of shape \[B, 2\]"):
        adapter.prepare(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"x: node ids must lie in \[0, 57\)"):
        adapter.prepare([[0, 57]])
    with pytest.raises(TypeError, match="x: expected whole node ids"):
        adapter.prepare([[0.5, 1.0]])


def test_user_embeddings_and_classifiers_are_adapted_and_checked(tiny):
    graph, _ = tiny
    emb = np.random.default_rng(0).standard_normal((graph.num_nodes, 8)).astype(np.float32)

    def cosine_link(features):  # a user's own classifier: any callable on [B, D] edge features
        return torch.sigmoid(features.sum(dim=1))

    adapter = EdgeAdapter(graph, emb, cosine_link, threshold=0.5)
    scores = adapter.scores(graph.edges[:4]).numpy()
    f = emb[graph.edges[:4, 0]] * emb[graph.edges[:4, 1]]
    np.testing.assert_allclose(scores, 1 - 1 / (1 + np.exp(-f.sum(axis=1))), rtol=1e-5)
    with pytest.raises(ValueError, match="embeddings: width 8 does not fit the classifier, which takes 16"):
        EdgeAdapter(graph, emb, LinkClassifier(16))
    with pytest.raises(ValueError, match=r"embeddings: expected one row per graph node \(57\); got 10 rows"):
        EdgeAdapter(graph, emb[:10], cosine_link)
    with pytest.raises(ValueError, match="embeddings: the classifier cannot score edge features of width 8"):
        EdgeAdapter(graph, emb, torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Flatten(0)))
    with pytest.raises(
        ValueError, match=r"classifier: expected one probability P\(edge\) per edge .* of shape \[2\]; got \[2, 8\]"
    ):
        EdgeAdapter(graph, emb, lambda f: f)
    with pytest.raises(
        TypeError, match="classifier: expected a torch callable .* or a fitted binary estimator with predict_proba"
    ):
        EdgeAdapter(graph, emb, "logistic")


def test_detector_round_trips_through_a_state_dict(tiny, tmp_path):
    graph, det = tiny
    det.save(tmp_path / "glgv.pt")
    again = GLGV.load(graph, tmp_path / "glgv.pt")
    assert again.threshold == det.threshold
    np.testing.assert_allclose(again.score_edges(graph.edges), det.score_edges(graph.edges), rtol=1e-6)
    other = AuthGraph.from_events([(0, "U1", "C1")])
    with pytest.raises(ValueError, match="do not fit a graph of 2 nodes"):
        GLGV.load(other, tmp_path / "glgv.pt")


def test_synthetic_enterprise_plants_chains_outside_the_accounts_habits():
    data = enterprise(
        departments=4,
        users_per_department=8,
        workstations_per_department=5,
        servers_per_department=2,
        services=3,
        chains=4,
        chain_length=3,
        seed=1,
    )
    _, src, dst = data.test
    assert data.malicious.sum() == 4 * 2 * 3 and len(data.chains) == 4
    for s, d in zip(src[data.malicious], dst[data.malicious]):
        chain = data.chain_of(s, d)
        assert chain is not None and d in chain[2:]
        assert data.department[d] != data.department[chain[0]]  # the hop leaves the account's department
    assert all(data.chain_of(s, d) is None for s, d in zip(src[~data.malicious], dst[~data.malicious]))
    train_pairs = set(zip(*data.train[1:]))
    assert not any((chain[0], chain[2]) in train_pairs for chain in data.chains)
    pairs, bad = data.test_edges()
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs) and bad.sum() <= data.malicious.sum()
    with pytest.raises(ValueError, match="departments: expected an integer >= 2"):
        enterprise(departments=1)
