"""Views over graph interpretations: a text summary and a drawing of the alert's neighbourhood.

Both read the ``details`` the graph search puts in an ``InterpretationBatch``; the drawing
needs matplotlib (``pip install deepaid-plugin-glgv[plot]``).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from deepaid_plugin_glgv.graph import KINDS, AuthGraph
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.results.views import format_table

_REQUIRED = ("anomaly_edge", "reference_edge", "hops", "path", "judged_normal")


def _details(batch: InterpretationBatch) -> Sequence[dict[str, Any]]:
    """The graph details of every row; rows the detector already accepted (no search) have ``{}``."""
    if not isinstance(batch, InterpretationBatch):
        raise TypeError(f"batch: expected an InterpretationBatch; got {type(batch).__name__}")
    rows = [d for d in batch.details if d]
    if not rows or any(k not in d for d in rows for k in _REQUIRED):
        raise ValueError(
            "batch: has no graph details (anomaly_edge, reference_edge, hops, path); "
            "interpret with the glgv preset or the graph search"
        )
    return batch.details


def _not_an_alert(batch: InterpretationBatch, i: int) -> str:
    return (
        f"edge {batch.anomalies[i].tolist()} (score {float(batch.scores[i]):.3g} <= threshold "
        f"{batch.threshold:.3g}): not an alert, nothing to explain"
    )


def explain_text(batch: InterpretationBatch, i: int) -> str:
    """One alert in a sentence: the edge, its reference, the hops between them and what changed."""
    d = _details(batch)[i]
    if not d:
        return _not_an_alert(batch, i)
    item = batch[i]
    (a_src, a_dst), (r_src, r_dst) = d["anomaly_edge"], d["reference_edge"]
    verdict = "judged normal" if d["judged_normal"] else "STILL ANOMALOUS"
    if not d["found"]:
        return (
            f"{a_src} -> {a_dst} (score {item.score:.3g} > threshold {item.threshold:.3g}): "
            f"no other edge within {d['levels_searched']} hops"
        )
    changes = [f"{role} {a} -> {r}" for role, a, r in (("src", a_src, r_src), ("dst", a_dst, r_dst)) if a != r]
    hops = f"{d['hops']} hop{'s' if d['hops'] != 1 else ''}"
    return (
        f"{a_src} -> {a_dst} (score {item.score:.3g} > threshold {item.threshold:.3g}): nearest reference "
        f"{r_src} -> {r_dst} (score {item.reference_score:.3g}, {verdict}), {hops} away via "
        f"{' - '.join(d['path'])}; changed {', '.join(changes) or 'nothing'}"
    )


def summary(batch: InterpretationBatch, *, limit: int | None = 20) -> str:
    """A table of alerts and their reference edges, with the share judged normal and the median hops."""
    details = [d for d in _details(batch) if d]
    rows = []
    alerts = [i for i, d in enumerate(batch.details) if d]
    for i in alerts[:limit] if limit else alerts:
        d = batch.details[i]
        rows.append(
            [
                str(i),
                " -> ".join(d["anomaly_edge"]),
                float(batch.scores[i]),
                " -> ".join(d["reference_edge"]),
                float(batch.reference_scores[i]),
                "yes" if d["judged_normal"] else "NO",
                "-" if d["hops"] is None else str(d["hops"]),
                " - ".join(d["path"]),
            ]
        )
    hops = np.array([d["hops"] for d in details if d["judged_normal"] and d["hops"] is not None])
    normal = float(np.mean([d["judged_normal"] for d in details]))
    skipped = len(batch) - len(details)
    title = (
        f"{len(details)} alerts (threshold {batch.threshold:.4g}): reference judged normal for "
        f"{normal:.1%}, median hops {float(np.median(hops)) if hops.size else float('nan'):g}"
        + (f"; first {limit} shown" if limit and len(details) > limit else "")
        + (f"; {skipped} rows were not alerts" if skipped else "")
    )
    return format_table(["#", "alert", "score", "reference", "ref score", "normal", "hops", "path"], rows, title=title)


_COLOURS = {"user": "#4C72B0", "host": "#8C8C8C", "service": "#DD8452"}


def plot_neighbourhood(
    batch: InterpretationBatch,
    i: int,
    graph: AuthGraph,
    path: str | os.PathLike[str],
    *,
    context: int = 6,
    seed: int = 0,
) -> None:
    """Draw alert ``i``: its edge (red, dashed), the reference edge (green), the hop path (blue, where it
    has edges besides those two), and up to ``context`` neighbours of each of their nodes, coloured by
    kind; written to ``path`` (PNG, SVG, ...). The legend names only what is drawn."""
    neighbourhood_figure(batch, i, graph, context=context, seed=seed).savefig(path, dpi=110)


def neighbourhood_figure(
    batch: InterpretationBatch, i: int, graph: AuthGraph, *, context: int = 6, seed: int = 0
) -> Any:
    """The drawing of ``plot_neighbourhood`` as a matplotlib ``Figure`` (not saved)."""
    try:
        import networkx as nx
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot_neighbourhood needs matplotlib: pip install 'deepaid-plugin-glgv[plot]'") from exc
    d = _details(batch)[i]
    if not d:
        raise ValueError(f"i: row {i} is not an alert; there is no reference to draw")
    if not isinstance(graph, AuthGraph):
        raise TypeError(f"graph: expected an AuthGraph; got {type(graph).__name__}")
    anomaly = [int(x) for x in graph.ids(d["anomaly_edge"], "anomaly_edge")]
    reference = [int(x) for x in graph.ids(d["reference_edge"], "reference_edge")]
    route = [int(x) for x in graph.ids(d["path"], "path")] if d["path"] else []
    core = list(dict.fromkeys(anomaly + reference + route))
    nodes = list(core)
    for node in core:  # a drawing of a few dozen nodes, not a hot path
        neighbours = graph.indices[graph.indptr[node] : graph.indptr[node + 1]]
        nodes += [int(x) for x in neighbours[:context]]
    nodes = list(dict.fromkeys(nodes))
    sub = nx.Graph(graph.nx.subgraph(nodes))
    sub.add_edge(*anomaly)
    pos = nx.spring_layout(sub, seed=seed)
    fig = Figure(figsize=(7, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # The hop path's own edges: those that are not the alert or reference edge (drawn in their colours).
    path_edges = [
        e for e in zip(route[:-1], route[1:]) if frozenset(e) not in (frozenset(anomaly), frozenset(reference))
    ]
    special = {frozenset(anomaly), frozenset(reference), *map(frozenset, path_edges)}
    nx.draw_networkx_edges(
        sub, pos, ax=ax, edgelist=[e for e in sub.edges if frozenset(e) not in special], edge_color="#CCCCCC", width=0.8
    )
    nx.draw_networkx_edges(sub, pos, ax=ax, edgelist=path_edges, edge_color="#1F77B4", width=2.5)
    nx.draw_networkx_edges(sub, pos, ax=ax, edgelist=[tuple(reference)], edge_color="#2CA02C", width=3.5)
    nx.draw_networkx_edges(sub, pos, ax=ax, edgelist=[tuple(anomaly)], edge_color="#D62728", width=2.5, style="dashed")
    kinds = graph.kind_names(list(sub.nodes))
    nx.draw_networkx_nodes(
        sub,
        pos,
        ax=ax,
        node_color=[_COLOURS[k] for k in kinds],
        node_size=[260 if n in core else 60 for n in sub.nodes],
    )
    nx.draw_networkx_labels(sub, pos, ax=ax, labels={n: graph.names[n] for n in core}, font_size=8)
    # A legend entry only for what is drawn: the hop path when it has edges of its own, the kinds present.
    handles = [
        Line2D([], [], color="#D62728", ls="--", lw=2.5, label="alert edge"),
        Line2D([], [], color="#2CA02C", lw=3.5, label="reference edge"),
    ]
    if path_edges:
        handles.append(Line2D([], [], color="#1F77B4", lw=2.5, label="hop path"))
    handles += [Line2D([], [], marker="o", ls="", color=_COLOURS[k], label=k) for k in KINDS if k in kinds]
    ax.legend(handles=handles, loc="best", fontsize=8)
    item = batch[i]
    ax.set_title(
        f"{' -> '.join(d['anomaly_edge'])} (score {item.score:.3g}) vs reference "
        f"{' -> '.join(d['reference_edge'])} (score {item.reference_score:.3g}), {d['hops']} hop(s)",
        fontsize=9,
    )
    ax.set_axis_off()
    fig.tight_layout()
    return fig
