"""The ``glgv`` interpreter preset: an edge adapter, the ``graph`` search, edge constraints."""

from __future__ import annotations

from typing import Any, Sequence

from deepaid_plugin_glgv.adapters import EdgeAdapter
from deepaid_plugin_glgv.detector import GLGV
from deepaid_sdk.constraint_specs import build_constraints, check_k
from deepaid_sdk.distances import Distance
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.preset_options import CONSTRAINTS, DISTANCE, EPS, LAM, SEARCH_OPTIONS, THRESHOLD, K, Option, Preset
from deepaid_sdk.registry import registry
from deepaid_sdk.search import ReferenceSearch


def glgv_interpreter(
    model: Any,
    *,
    threshold: float | None = None,
    eps: float | None = None,
    lam: float | None = None,
    k: int | None = None,
    frozen: Sequence[int] | None = None,
    same_kinds: bool = True,
    constraints: Sequence[Any] = (),
    max_depth: int = 3,
    target: str = "ideal",
    keep: str = "source",
    search_options: dict[str, Any] | None = None,
    distance: Any = "edge-embedding",
) -> Interpreter:
    """GL-GV preset: explain an alerting login edge by the nearest existing edge judged normal.

    ``model`` is a fitted ``GLGV`` or an ``EdgeAdapter`` (user embeddings and classifier).
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
    if isinstance(model, GLGV):
        adapter = model.adapter()
    elif isinstance(model, EdgeAdapter):
        adapter = model
    else:
        raise TypeError(f"model: expected a fitted GLGV or an EdgeAdapter; got {type(model).__name__}")
    if threshold is not None:
        adapter.threshold = threshold
    reg = registry()
    search = reg.build(
        "searches",
        "graph",
        ReferenceSearch,
        **{"max_depth": max_depth, "target": target, "keep": keep, **(search_options or {})},
    )
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
        search=search,
        constraints=build_constraints(k=check_k(k, 2), lam=lam, eps=eps, frozen=frozen, extra=extra, reg=reg),
        distance=built,
        name="glgv",
    )


#: The options ``create("glgv", ...)`` takes (``deepaid plugins`` lists them).
GLGV_PRESET = Preset(
    glgv_interpreter,
    (
        THRESHOLD,
        EPS,
        LAM,
        K,
        Option("frozen", None, "list of dims", "embedding dimensions that never change"),
        Option("same_kinds", True, "bool", "a reference edge joins nodes of the alert's kinds"),
        CONSTRAINTS,
        Option("max_depth", 3, "int", "hops from the alert's endpoints the graph search explores"),
        Option("target", "ideal", "name", "what the graph search aims for"),
        Option("keep", "source", "name", "which endpoint of the alert the reference keeps"),
        SEARCH_OPTIONS,
        DISTANCE.but(default="edge-embedding"),
    ),
)
