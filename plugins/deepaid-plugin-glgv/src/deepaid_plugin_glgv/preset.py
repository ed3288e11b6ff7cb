"""The ``glgv`` interpreter preset: an edge adapter, the ``graph`` search, edge constraints.

The model is a fitted ``GLGV``, an ``EdgeAdapter``, or the user's own parts: ``model=`` a link
classifier (a torch callable or a fitted estimator with ``predict_proba``) with ``graph=`` (an
``AuthGraph`` or an edge-list path) and ``embeddings=`` (a matrix in the graph's node order, or keyed
by node name). Without ``threshold=`` those get the ``percentile`` of the graph's own edge
scores, as ``GLGV.fit`` sets it.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch

from deepaid_plugin_glgv.adapters import EdgeAdapter
from deepaid_plugin_glgv.detector import GLGV
from deepaid_plugin_glgv.graph import AuthGraph
from deepaid_plugin_glgv.search import IDEAL_SEARCHES
from deepaid_sdk.constraint_specs import build_constraints, check_k
from deepaid_sdk.distances import Distance
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.preset_options import (
    CONSTRAINTS,
    DISTANCE,
    EPS,
    LAM,
    PERCENTILE,
    SEARCH,
    SEARCH_OPTIONS,
    THRESHOLD,
    K,
    Option,
    Preset,
)
from deepaid_sdk.registry import registry
from deepaid_sdk.search import ReferenceSearch


def _user_adapter(
    classifier: Any, graph: Any, embeddings: Any, threshold: float | None, percentile: float
) -> EdgeAdapter:
    """An ``EdgeAdapter`` of the user's graph, embeddings and classifier; threshold from the graph's edges."""
    if graph is None or embeddings is None:
        missing = [n for n, v in (("graph", graph), ("embeddings", embeddings)) if v is None]
        raise ValueError(
            f"model: with a link classifier of your own, pass graph= (an AuthGraph or edge-list path) and "
            f"embeddings= (a [N, D] matrix in the graph's node order, or keyed by node name); missing {missing}"
        )
    if isinstance(graph, (str, os.PathLike)):
        graph = AuthGraph.from_edge_list(graph)
    adapter = EdgeAdapter(graph, embeddings, classifier, threshold)
    if threshold is None:
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile: expected a value in (0, 100]; got {percentile}")
        with torch.no_grad():
            scores = adapter.scores(graph.edges).double().cpu().numpy()
        adapter.threshold = float(np.percentile(scores, float(percentile)))
    return adapter


def _adapter(model: Any, graph: Any, embeddings: Any, threshold: Any, percentile: float) -> Any:
    if isinstance(model, GLGV):
        return model.adapter()
    if isinstance(model, EdgeAdapter):
        return model
    if graph is None and embeddings is None:
        raise TypeError(
            f"model: expected a fitted GLGV or an EdgeAdapter; got {type(model).__name__} (a link classifier "
            "of your own, torch or with predict_proba, also needs graph= and embeddings=)"
        )
    return _user_adapter(model, graph, embeddings, threshold, percentile)


def glgv_interpreter(
    model: Any,
    *,
    graph: Any = None,
    embeddings: Any = None,
    threshold: float | None = None,
    percentile: float = 99.0,
    eps: float | None = None,
    lam: float | None = None,
    k: int | None = None,
    frozen: Sequence[int] | None = None,
    same_kinds: bool = True,
    constraints: Sequence[Any] = (),
    max_depth: int = 3,
    target: str = "ideal",
    keep: str = "source",
    search: str = "auto",
    search_options: dict[str, Any] | None = None,
    distance: Any = "edge-embedding",
) -> Interpreter:
    """GL-GV preset: explain an alerting login edge by the nearest existing edge judged normal.

    ``model`` is a fitted ``GLGV``, an ``EdgeAdapter``, or a classifier of the user's own with
    ``graph=`` and ``embeddings=`` (see the module doc). ``search`` is how the ideal edge embedding
    e* is found: ``"auto"`` (default: the gradient search where the classifier's score has a gradient
    -- torch, or a linear scikit-learn model's torch twin -- else the gradient-free one),
    ``"gradient"`` or ``"blackbox"``; the reference is always an existing edge found on the graph.
    ``keep="source"`` (default) keeps the acting account whenever it has an edge judged normal
    ("this account normally logs into these hosts"), and changes it only when it has none;
    ``keep="either"`` lets either endpoint change (nearest normal edge, the account as likely to
    change as the host); ``keep="destination"`` prefers keeping the host. ``frozen=[0]`` keeps
    the account as a hard rule (no reference where it has no normal edge). ``k=1`` keeps one
    endpoint of the alert (references share a node with it); ``same_kinds`` asks the reference to join the same kinds of
    node as the alert (a user->host login is explained by a user->host login); ``eps`` is the margin below
    the threshold a reference needs;
    ``lam`` weighs stability in the search for the ideal edge embedding.
    """
    adapter = _adapter(model, graph, embeddings, threshold, percentile)
    if threshold is not None:
        adapter.threshold = threshold
    if search not in IDEAL_SEARCHES:
        raise ValueError(
            f"search: the glgv preset always searches the graph; search= says how it finds the ideal edge "
            f"embedding, one of {IDEAL_SEARCHES}; got {search!r}"
        )
    reg = registry()
    options = {"max_depth": max_depth, "target": target, "keep": keep, "ideal_search": search}
    graph_search = reg.build("searches", "graph", ReferenceSearch, **{**options, **(search_options or {})})
    if isinstance(distance, str):
        options = (
            {"embeddings": adapter.embeddings}
            if distance == "edge-embedding"
            else {"graph": adapter.graph}
            if distance == "graph-hops"
            else {}
        )
        built = reg.build("distances", distance, Distance, **options)
    else:
        built = reg.build("distances", distance, Distance)
    extra = [*constraints, ("same-kinds", {"graph": adapter.graph})] if same_kinds else list(constraints)
    return Interpreter(
        adapter=adapter,
        search=graph_search,
        constraints=build_constraints(k=check_k(k, 2), lam=lam, eps=eps, frozen=frozen, extra=extra, reg=reg),
        distance=built,
        name="glgv",
    )


#: The options ``create("glgv", ...)`` takes (``deepaid plugins`` lists them).
GLGV_PRESET = Preset(
    glgv_interpreter,
    (
        Option("graph", None, "AuthGraph | path", "with a classifier as model: the training graph"),
        Option("embeddings", None, "array | keyed", "with a classifier as model: node embeddings (matrix, or by name)"),
        THRESHOLD,
        PERCENTILE.but(
            doc="with a classifier as model: percentile of the graph's edge scores that becomes the threshold",
            fill=None,
        ),
        EPS,
        LAM,
        K,
        Option("frozen", None, "list of dims", "embedding dimensions that never change"),
        Option("same_kinds", True, "bool", "a reference edge joins nodes of the alert's kinds"),
        CONSTRAINTS,
        Option("max_depth", 3, "int", "hops from the alert's endpoints the graph search explores"),
        Option("target", "ideal", "name", "what the graph search aims for"),
        Option("keep", "source", "name", "which endpoint of the alert the reference keeps"),
        SEARCH.but(doc="how e* is found: auto (gradient where the classifier has one), gradient, blackbox"),
        SEARCH_OPTIONS,
        DISTANCE.but(default="edge-embedding"),
    ),
)
