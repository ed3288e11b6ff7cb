"""GL-GV on the artefacts users have: scikit-learn link classifiers, embeddings keyed by node name, edge
lists in other column orders, LANL-style names."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from deepaid_plugin_glgv import AuthGraph, EdgeAdapter, KeyedEmbeddings, default_node_kind, read_edge_list
from deepaid_plugin_glgv.detector import sample_non_edges
from deepaid_sdk.presets import create


@pytest.fixture(scope="module")
def fitted(glgv_trained):
    """The session detector's graph and embeddings, edge / non-edge features and labels for sklearn."""
    data, graph, det = glgv_trained
    emb = det.embeddings.numpy()
    neg = sample_non_edges(graph, graph.num_edges, seed=0)
    pairs = np.concatenate([graph.edges, neg])
    x = (emb[pairs[:, 0]] * emb[pairs[:, 1]]).astype(np.float64)
    y = np.r_[np.ones(graph.num_edges), np.zeros(len(neg))]
    return data, graph, emb, x, y


def _proba(clf, emb, edges):
    return clf.predict_proba((emb[edges[:, 0]] * emb[edges[:, 1]]).astype(np.float64))[:, 1]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(C=10.0, max_iter=2000),
        lambda: CalibratedClassifierCV(LinearSVC(C=1.0), method="sigmoid", cv=3),
    ],
    ids=["logistic", "linear-svc-sigmoid"],
)
def test_a_linear_sklearn_classifier_gets_an_exact_torch_twin_and_the_gradient_search(fitted, make):
    data, graph, emb, x, y = fitted
    clf = make().fit(x, y)
    interp = create("glgv", model=clf, graph=graph, embeddings=emb)
    adapter = interp.adapter
    assert adapter.classifier_route.startswith("torch twin of ")
    edges = graph.edges[:50]
    np.testing.assert_allclose(1 - adapter.scores(edges).numpy(), _proba(clf, emb, edges), atol=1e-5)
    assert adapter.threshold == pytest.approx(np.percentile(1 - _proba(clf, emb, graph.edges), 99.0), abs=1e-5)
    pairs, _ = data.test_edges()
    ids = graph.ids(pairs)
    alerts = ids[adapter.scores(ids).numpy() > adapter.threshold][:8]
    batch = interp.interpret_batch(alerts)
    assert batch.params["ideal_search_used"] == "gradient"
    assert batch.flipped.mean() >= 0.75


def test_a_nonlinear_classifier_is_called_through_predict_proba_and_the_blackbox_search(fitted):
    data, graph, emb, x, y = fitted
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(x, y)
    interp = create("glgv", model=forest, graph=graph, embeddings=emb)
    assert interp.adapter.classifier_route.startswith("predict_proba of RandomForestClassifier")
    pairs, _ = data.test_edges()
    ids = graph.ids(pairs)
    alerts = ids[interp.adapter.scores(ids).numpy() > interp.adapter.threshold][:6]
    batch = interp.interpret_batch(alerts)
    assert batch.params["ideal_search_used"] == "blackbox"
    assert batch.flipped.mean() >= 0.75
    with pytest.raises(ValueError, match=r"search='gradient'.*has no gradient.*use search='blackbox'"):
        create("glgv", model=forest, graph=graph, embeddings=emb, search="gradient").interpret_batch(alerts[:2])
    isotonic = CalibratedClassifierCV(LogisticRegression(max_iter=500), method="isotonic", cv=3).fit(x, y)
    route = EdgeAdapter(graph, emb, isotonic, 0.5).classifier_route
    assert route.startswith("predict_proba of CalibratedClassifierCV (not linear")


def test_numpy_and_gradient_free_torch_wrappers_work_and_blackbox_is_accepted(fitted):
    data, graph, emb, x, y = fitted
    clf = LogisticRegression(max_iter=2000).fit(x, y)

    def numpy_link(features):  # a user's numpy wrapper: torch tensor in, ndarray out
        return clf.predict_proba(np.asarray(features, dtype=np.float64))[:, 1]

    def frozen_link(features):  # a torch wrapper whose score has no gradient
        with torch.no_grad():
            return torch.sigmoid(features.double() @ torch.as_tensor(clf.coef_[0]) + float(clf.intercept_[0])).float()

    pairs, _ = data.test_edges()
    ids = graph.ids(pairs)
    reference = None
    for link in (numpy_link, frozen_link):
        interp = create("glgv", model=link, graph=graph, embeddings=emb)
        scores = interp.adapter.scores(ids).numpy()
        np.testing.assert_allclose(scores, 1 - _proba(clf, emb, ids), atol=1e-5)
        alerts = ids[scores > interp.adapter.threshold][:4]
        batch = interp.interpret_batch(alerts)
        assert batch.params["ideal_search_used"] == "blackbox"
        reference = batch.references if reference is None else reference
        np.testing.assert_array_equal(batch.references, reference)  # the same classifier: the same answer
    assert create("glgv", model=numpy_link, graph=graph, embeddings=emb, search="blackbox") is not None
    with pytest.raises(ValueError, match=r"two columns per edge .* pass the fitted estimator itself"):
        EdgeAdapter(graph, emb, lambda f: clf.predict_proba(np.asarray(f, dtype=np.float64)), 0.5)
    with pytest.raises(ValueError, match=r"search: the glgv preset always searches the graph.*got 'beam'"):
        create("glgv", model=clf, graph=graph, embeddings=emb, search="beam")
    with pytest.raises(
        ValueError, match=r"model: with a link classifier of your own, pass graph=.*missing \['embeddings'\]"
    ):
        create("glgv", model=clf, graph=graph)


def test_embeddings_keyed_by_node_name_are_put_in_the_graph_order(fitted, tmp_path):
    _, graph, emb, x, y = fitted
    clf = LogisticRegression(max_iter=2000).fit(x, y)
    expected = EdgeAdapter(graph, emb, clf, 0.5).scores(graph.edges).numpy()
    order = np.random.default_rng(0).permutation(graph.num_nodes)
    names = graph.names[order]
    np.save(tmp_path / "emb.npy", emb[order])
    (tmp_path / "nodes.txt").write_text("\n".join(names) + "\n")
    extra = {"Cnever": np.ones(emb.shape[1])}
    keyed = [
        KeyedEmbeddings.from_files(tmp_path / "emb.npy", tmp_path / "nodes.txt"),
        {**{n: emb[i] for n, i in zip(names, order)}, **extra},
        pd.DataFrame(emb[order], index=names),
    ]
    for value in keyed:
        adapter = EdgeAdapter(graph, value, clf, 0.5)
        np.testing.assert_allclose(adapter.scores(graph.edges).numpy(), expected, atol=1e-6)
    assert EdgeAdapter(graph, keyed[1], clf, 0.5).describe()["unused_embeddings"] == 1
    with pytest.raises(ValueError, match=r"embeddings: 1 graph node\(s\) have no embedding: \['" + names[0]):
        EdgeAdapter(graph, {n: emb[i] for n, i in zip(names[1:], order[1:])}, clf, 0.5)
    with pytest.raises(ValueError, match=r"embeddings: \d+ node names for \d+ vectors"):
        KeyedEmbeddings(names[:-1], emb)


def test_edge_lists_with_or_without_times_in_either_order(tmp_path):
    events = [("U1@DOM1", "C1", 1.0), ("U2@DOM1", "C2", 2.0), ("C1$@DOM1", "C1", 3.0)]
    (tmp_path / "sdt.txt").write_text("".join(f"{s} {d} {t}\n" for s, d, t in events))
    (tmp_path / "tsd.txt").write_text("".join(f"{t} {s} {d}\n" for s, d, t in events))
    (tmp_path / "sd.csv").write_text("".join(f"{s},{d}\n" for s, d, _ in events))
    a = AuthGraph.from_edge_list(tmp_path / "sdt.txt")
    b = AuthGraph.from_edge_list(tmp_path / "tsd.txt")
    c = AuthGraph.from_edge_list(tmp_path / "sd.csv")
    assert (a.edge_order, b.edge_order, c.edge_order) == ("src dst time", "time src dst", "src dst")
    for g in (a, b, c):
        np.testing.assert_array_equal(g.edges, a.edges)
    np.testing.assert_array_equal(a.first_seen, b.first_seen)
    assert sorted(c.first_seen.tolist()) == [1.0, 2.0, 3.0]  # no times: the line number orders events
    with pytest.raises(ValueError, match=r"cannot tell the column order \(first and last field are both numbers\)"):
        read_edge_list(["1 2 3", "4 5 6"])
    t, s, d = read_edge_list(["1 2 3", "4 5 6"], order="src dst time")
    assert t.tolist() == [3.0, 6.0] and s.tolist() == ["1", "4"]
    with pytest.raises(ValueError, match=r"line 2: 'U2 C2' \(2 fields\)"):
        read_edge_list(["U1 C1 5", "U2 C2"])
    with pytest.raises(ValueError, match=r"order: expected one of"):
        read_edge_list(["U1 C1"], order="dst src")


def test_lanl_names_get_their_kinds_and_a_mapping_overrides_them():
    expected = {
        "U123@DOM1": "user",
        "Administrator@DOM1": "user",
        "C123": "host",
        "C123$@DOM1": "machine",
        "SYSTEM@C123": "service",
        "LOCAL SERVICE@C17": "service",
        "NETWORK SERVICE@C9": "service",
        "ANONYMOUS LOGON@C586": "anonymous",
        "U7": "user",
        "S3": "service",
        "?": "host",
    }
    assert {n: default_node_kind(n) for n in expected} == expected
    names = list(expected)
    g = AuthGraph.from_arrays(np.arange(len(names)), names, ["C1"] * len(names))
    assert dict(zip(g.names.tolist(), g.kind_names(range(g.num_nodes)))) == {**expected, "C1": "host"}
    own = AuthGraph.from_arrays(
        [0, 1],
        ["svc-backup@DOM1", "U1@DOM1"],
        ["C1", "C1"],
        node_kind=lambda n: "service" if n.startswith("svc-") else default_node_kind(n),
    )
    assert own.kind_names(own.ids(["svc-backup@DOM1", "U1@DOM1", "C1"])) == ["service", "user", "host"]


def test_a_node_paired_with_itself_is_explained_by_an_edge_of_that_node(glgv_trained):
    _, graph, det = glgv_trained
    adapter = det.adapter()
    hosts = np.flatnonzero(graph.kinds == 1)
    self_scores = adapter.scores(np.stack([hosts, hosts], axis=1)).numpy()
    node = int(hosts[np.argmax(self_scores)])
    # a threshold under which this host's login to itself alerts (the LANL graph has many such alerts)
    interp = create("glgv", model=adapter, threshold=float(self_scores.max()) - 1e-3, keep="either")
    batch = interp.interpret_batch(np.array([[node, node]]))
    assert batch.alerts[0] and batch.flipped[0]
    ref = batch.references[0].tolist()
    assert node in ref and ref != [node, node] and graph.has_edges([ref])[0]
    d = batch.details[0]
    assert d["anomaly_kinds"] == ["host", "host"] == d["reference_kinds"] and d["hops"] == 1
