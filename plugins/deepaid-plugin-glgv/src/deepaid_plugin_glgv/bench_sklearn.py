"""The user-artefact path of ``deepaid bench glgv``: a scikit-learn link classifier and precomputed embeddings.

What a user of the public GL-GV artefacts has: node embeddings saved as a ``.npy`` matrix with a node
list in its own order (here: the benchmark detector's embeddings, written in a shuffled order) and a
``LogisticRegression`` fitted on embedding products of observed edges against sampled non-edges. The
embeddings are loaded back by name (``KeyedEmbeddings.from_files``), the classifier goes to
``create("glgv", model=clf, graph=..., embeddings=...)`` as it is, and every alert of the test period
by that detector is explained twice: through the classifier's exact torch twin (the gradient search
for e*) and through its ``predict_proba`` with the gradient-free search (``search="blackbox"``).
"""

from __future__ import annotations

import pathlib
import tempfile
import time
from typing import Any

import numpy as np

from deepaid_plugin_glgv.detector import GLGV, sample_non_edges
from deepaid_plugin_glgv.embeddings import KeyedEmbeddings
from deepaid_plugin_glgv.graph import AuthGraph
from deepaid_sdk.evaluation import precision_recall_at_k
from deepaid_sdk.presets import create
from deepaid_sdk.results.views import format_table


def fit_sklearn_link(graph: AuthGraph, embeddings: np.ndarray, *, seed: int) -> Any:
    """A ``LogisticRegression`` on the Hadamard products of observed edges against as many sampled non-edges."""
    from sklearn.linear_model import LogisticRegression

    neg = sample_non_edges(graph, graph.num_edges, seed=seed)
    pairs = np.concatenate([graph.edges, neg])
    x = (embeddings[pairs[:, 0]] * embeddings[pairs[:, 1]]).astype(np.float64)
    y = np.r_[np.ones(graph.num_edges), np.zeros(len(neg))]
    return LogisticRegression(C=10.0, max_iter=5000).fit(x, y)


def saved_and_loaded(graph: AuthGraph, embeddings: np.ndarray, folder: pathlib.Path, seed: int) -> KeyedEmbeddings:
    """The embeddings written as ``.npy`` + node list in a shuffled order, and read back by name."""
    order = np.random.default_rng(seed).permutation(graph.num_nodes)
    np.save(folder / "embeddings.npy", embeddings[order])
    (folder / "nodes.txt").write_text("\n".join(graph.names[order].tolist()) + "\n", encoding="utf-8")
    return KeyedEmbeddings.from_files(folder / "embeddings.npy", folder / "nodes.txt")


def _row(name: str, interp: Any, alerts: np.ndarray, planted: np.ndarray, truth: np.ndarray) -> tuple[Any, ...]:
    started = time.perf_counter()
    batch = interp.interpret_batch(alerts)
    seconds = time.perf_counter() - started
    hops = np.array([np.inf if d["hops"] is None else d["hops"] for d in batch.details], dtype=np.float64)
    normal = np.asarray(batch.flipped, dtype=bool)
    finite = hops[normal & np.isfinite(hops)]
    recall = precision_recall_at_k(interp.interpret_batch(alerts[planted]), truth, k=2)[1] if planted.any() else None
    return (
        name,
        len(batch),
        int(planted.sum()),
        round(float(normal.mean()), 4),
        round(float(finite.mean()), 3) if finite.size else None,
        round(float(np.mean(normal & (hops <= 2))), 4),
        None if recall is None else round(float(recall), 4),
        batch.params.get("ideal_search_used", "-"),
        round(1000.0 * seconds / max(len(batch), 1), 3),
    )


def sklearn_path_notes(
    detector: GLGV, pairs_ids: np.ndarray, malicious: np.ndarray, *, seed: int, n: int | None = None
) -> list[str]:
    """Figures of the sklearn-classifier + precomputed-embeddings path beside today's torch detector."""
    graph = detector.graph
    emb = detector.embeddings.cpu().numpy()
    started = time.perf_counter()
    clf = fit_sklearn_link(graph, emb, seed=seed)
    fit_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        keyed = saved_and_loaded(graph, emb, pathlib.Path(tmp), seed)
    rows, twin_route = [], ""
    torch_interp = create("glgv", model=detector, search_options={"seed": seed, "init_noise": 0.05})
    for name, interp in (
        ("torch GLGV (today)", torch_interp),
        (
            "sklearn LogisticRegression, torch twin",
            create("glgv", model=clf, graph=graph, embeddings=keyed, search_options={"seed": seed, "init_noise": 0.05}),
        ),
        (
            "sklearn LogisticRegression, blackbox",
            create("glgv", model=clf, graph=graph, embeddings=keyed, search="blackbox"),
        ),
    ):
        adapter = interp.adapter
        twin_route = twin_route or (str(getattr(adapter, "classifier_route", "")) if "sklearn" in name else "")
        alert = (adapter.scores(pairs_ids) > adapter.threshold).cpu().numpy()
        alerts, planted = pairs_ids[alert], malicious[alert]
        if n is not None:
            alerts, planted = alerts[:n], planted[:n]
        truth = np.zeros((int(planted.sum()), 2), dtype=bool)
        truth[:, 1] = True
        rows.append(_row(name, interp, alerts, planted, truth))
    table = format_table(
        (
            "detector / e* search",
            "alerts",
            "planted",
            "normal",
            "mean hops",
            "normal within 2 hops",
            "planted endpoint recall@2",
            "e* by",
            "ms/alert",
        ),
        rows,
        title="user artefacts: sklearn LogisticRegression + embeddings saved as .npy + node list (shuffled), "
        "loaded by name:",
    )
    return [
        table,
        f"sklearn path: LogisticRegression fitted in {fit_s:.1f}s on {2 * graph.num_edges:,} edge/non-edge "
        f"products; route: {twin_route}",
    ]
