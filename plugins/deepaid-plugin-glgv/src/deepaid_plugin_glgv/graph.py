"""The authentication graph: named, typed nodes and undirected login edges counted from events.

Built from ``(time, src, dst)`` events with numpy (name -> id by one ``np.unique``, edges
deduplicated by a sorted key), kept twice: as a ``networkx.Graph`` over integer node ids (for
users and for shortest paths) and as a CSR adjacency (for the batched frontier expansion of the
search). A million edges build in seconds.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping

import attrs
import networkx as nx
import numpy as np

from deepaid_plugin_glgv.edge_list import read_edge_list, read_edge_list_with_order  # noqa: F401  # re-exported

#: Node kinds of an authentication graph, in the order of their integer codes.
KINDS: tuple[str, ...] = ("user", "host", "service", "machine", "anonymous")

NodeKind = Mapping[str, str] | Callable[[str], str] | None

#: Well-known Windows principals (the part before ``@``, upper case) that are not a person's account.
SERVICE_PRINCIPALS = frozenset({"SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE"})
ANONYMOUS_PRINCIPALS = frozenset({"ANONYMOUS LOGON", "ANONYMOUS"})


def default_node_kind(name: str) -> str:
    """The kind of a LANL-style node name (see ``KINDS``).

    Names with ``@`` are accounts ``principal@domain``: ``C123$@DOM1`` (``$``: a computer's own
    account) is ``machine``; ``SYSTEM``, ``LOCAL SERVICE`` and ``NETWORK SERVICE`` are ``service``
    (system and service principals); ``ANONYMOUS LOGON`` is ``anonymous``; any other account
    (``U123@DOM1``, ``Administrator@DOM1``) is ``user``. Names without ``@``: ``U...`` is ``user``,
    ``S...`` ``service`` (the synthetic enterprise's services), ``ANONYMOUS LOGON`` ``anonymous``,
    anything else (``C123``, ``?``) ``host``. Pass ``node_kind=`` (a mapping or a callable) for
    other naming schemes.
    """
    principal, at, _ = name.partition("@")
    head = principal.strip().upper()
    if head in ANONYMOUS_PRINCIPALS:
        return "anonymous"
    if at:
        if head.endswith("$"):
            return "machine"
        return "service" if head in SERVICE_PRINCIPALS else "user"
    first = head[:1]
    return "user" if first == "U" else "service" if first == "S" else "host"


def _kind_codes(names: np.ndarray, node_kind: NodeKind) -> np.ndarray:
    """Integer kind code of every node name."""
    if node_kind is None:
        kinds = [default_node_kind(n) for n in names.tolist()]
    elif isinstance(node_kind, Mapping):
        missing = [str(n) for n in names if n not in node_kind]
        if missing:
            raise ValueError(
                f"node_kind: no kind given for nodes {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                "(a mapping names every node; a callable can fall back on default_node_kind)"
            )
        kinds = [node_kind[n] for n in names]
    elif callable(node_kind):
        kinds = [node_kind(str(n)) for n in names]
    else:
        raise TypeError(
            f"node_kind: expected a mapping name -> kind, a callable or None; got {type(node_kind).__name__}"
        )
    bad = sorted({k for k in kinds if k not in KINDS}, key=str)
    if bad:
        raise ValueError(f"node_kind: expected kinds among {KINDS}; got {bad[:10]}")
    code = {k: i for i, k in enumerate(KINDS)}
    return np.array([code[k] for k in kinds], dtype=np.int8)


def in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``[M]`` bool: which ``keys`` occur in the sorted array ``sorted_keys``."""
    if sorted_keys.size == 0 or keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


@attrs.define(eq=False)
class AuthGraph:
    """Users, hosts and services joined by the logins seen between them (undirected, counted).

    Build it with ``from_events``, ``from_arrays`` or ``from_edge_list``. Node ids are the
    positions in ``names`` (sorted); ``edges`` hold each pair once as ``(low id, high id)``.
    """

    names: np.ndarray
    """``[N]`` node names, sorted; a node's id is its position."""
    kinds: np.ndarray
    """``[N]`` int8 codes into ``KINDS``."""
    edges: np.ndarray
    """``[E, 2]`` int64 node-id pairs, low id first, sorted."""
    counts: np.ndarray
    """``[E]`` number of events seen on each edge."""
    first_seen: np.ndarray
    """``[E]`` time of each edge's first event."""
    last_seen: np.ndarray
    """``[E]`` time of each edge's last event."""
    indptr: np.ndarray
    """``[N + 1]`` CSR row pointers of the adjacency."""
    indices: np.ndarray
    """CSR neighbour ids (a self-loop is listed once)."""
    nx: nx.Graph
    """The same graph in networkx: integer nodes with ``name`` and ``kind``; edges with ``count``."""
    index: dict[str, int] = attrs.field(factory=dict, repr=False)
    """Node name -> id."""
    edge_order: str | None = None
    """The column order of the edge list it was read from (declared or detected), None otherwise."""

    @classmethod
    def from_events(cls, events: Iterable[tuple[Any, Any, Any]], *, node_kind: NodeKind = None) -> AuthGraph:
        """Build from an iterable of ``(time, src, dst)`` triples."""
        rows = list(events)
        bad = [i for i, row in enumerate(rows) if not (isinstance(row, (tuple, list)) and len(row) == 3)]
        if bad:
            raise ValueError(f"events: expected (time, src, dst) triples; rows {bad[:10]} are not")
        if not rows:
            raise ValueError("events: no events given")
        t, s, d = zip(*rows)
        return cls.from_arrays(t, s, d, node_kind=node_kind)

    @classmethod
    def from_edge_list(
        cls,
        source: str | os.PathLike[str] | Iterable[str],
        *,
        delimiter: str | None = None,
        order: str | None = None,
        node_kind: NodeKind = None,
    ) -> AuthGraph:
        """Build from a text edge list (``time src dst``, ``src dst time`` or ``src dst`` per line).

        ``order`` declares the columns; None detects them from the first event line (see
        ``read_edge_list``); the order read is kept in ``edge_order``.
        """
        *events, found = read_edge_list_with_order(source, delimiter=delimiter, order=order)
        graph = cls.from_arrays(*events, node_kind=node_kind)
        graph.edge_order = found
        return graph

    @classmethod
    def from_arrays(cls, time: Any, src: Any, dst: Any, *, node_kind: NodeKind = None) -> AuthGraph:
        """Build from three equally long arrays: event times, source names, destination names."""
        t = np.asarray(time, dtype=np.float64).reshape(-1)
        s, d = np.asarray(src).reshape(-1), np.asarray(dst).reshape(-1)
        if not (t.size == s.size == d.size):
            raise ValueError(f"time/src/dst: expected equal lengths; got {t.size}, {s.size}, {d.size}")
        if t.size == 0:
            raise ValueError("events: no events given")
        if not np.isfinite(t).all():
            raise ValueError(f"time: events {np.flatnonzero(~np.isfinite(t))[:10].tolist()} have no finite time")
        names, inverse = np.unique(np.concatenate([s, d]).astype(str), return_inverse=True)
        if (np.char.str_len(names) == 0).any():
            empty = np.flatnonzero(np.char.str_len(np.concatenate([s, d]).astype(str)) == 0) % t.size
            raise ValueError(f"src/dst: events {sorted(set(empty.tolist()))[:10]} have an empty node name")
        n = names.size
        a, b = inverse[: t.size].astype(np.int64), inverse[t.size :].astype(np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = lo * n + hi
        order = np.argsort(key, kind="stable")
        key, t_sorted = key[order], t[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ukey = key[starts]
        counts = np.diff(np.r_[starts, key.size]).astype(np.int64)
        edges = np.stack([ukey // n, ukey % n], axis=1)
        graph = cls._assemble(
            names,
            _kind_codes(names, node_kind),
            edges,
            counts,
            np.minimum.reduceat(t_sorted, starts),
            np.maximum.reduceat(t_sorted, starts),
        )
        return graph

    @classmethod
    def _assemble(
        cls,
        names: np.ndarray,
        kinds: np.ndarray,
        edges: np.ndarray,
        counts: np.ndarray,
        first: np.ndarray,
        last: np.ndarray,
    ) -> AuthGraph:
        n = names.size
        lo, hi = edges[:, 0], edges[:, 1]
        loops = lo == hi
        rows = np.concatenate([lo, hi[~loops]])
        cols = np.concatenate([hi, lo[~loops]])
        order = np.argsort(rows * n + cols, kind="stable")
        indices = cols[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        g = nx.Graph()
        kind_names = np.asarray(KINDS)[kinds]
        g.add_nodes_from(zip(range(n), ({"name": nm, "kind": k} for nm, k in zip(names.tolist(), kind_names.tolist()))))
        g.add_edges_from(zip(lo.tolist(), hi.tolist(), ({"count": c} for c in counts.tolist())))
        index = dict(zip(names.tolist(), range(n)))
        return cls(
            names=names,
            kinds=kinds,
            edges=edges,
            counts=counts,
            first_seen=first,
            last_seen=last,
            indptr=indptr,
            indices=indices,
            nx=g,
            index=index,
        )

    @property
    def num_nodes(self) -> int:
        return int(self.names.size)

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def degrees(self) -> np.ndarray:
        return np.diff(self.indptr)

    def ids(self, names: Any, name: str = "nodes") -> np.ndarray:
        """Node ids of ``names`` (any shape); unknown names are listed in the error."""
        arr = np.asarray(names)
        flat = arr.reshape(-1).astype(str)
        out = np.fromiter((self.index.get(x, -1) for x in flat.tolist()), dtype=np.int64, count=flat.size)
        if (out < 0).any():
            unknown = list(dict.fromkeys(flat[out < 0].tolist()))
            raise ValueError(
                f"{name}: {len(unknown)} node(s) not in the graph: {unknown[:10]}{' ...' if len(unknown) > 10 else ''}"
            )
        return out.reshape(arr.shape)

    def check_ids(self, ids: np.ndarray, name: str = "x") -> None:
        """Raise a ValueError naming the rows whose node ids lie outside ``[0, N)``."""
        ids = np.asarray(ids)
        bad = ((ids < 0) | (ids >= self.num_nodes)).reshape(ids.shape[0], -1).any(axis=1) if ids.size else ids
        if ids.size and bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(
                f"{name}: node ids must lie in [0, {self.num_nodes}) (nodes of the graph); "
                f"rows {rows[:10].tolist()} hold {ids[rows[:3]].tolist()}"
            )

    def node_names(self, ids: Any) -> list[str]:
        """Names of node ids, as a flat list."""
        return self.names[np.asarray(ids, dtype=np.int64).reshape(-1)].tolist()

    def kind_names(self, ids: Any) -> list[str]:
        """Kinds (names in ``KINDS``) of node ids, as a flat list."""
        return np.asarray(KINDS)[self.kinds[np.asarray(ids, dtype=np.int64).reshape(-1)]].tolist()

    def edge_keys(self, pairs: np.ndarray) -> np.ndarray:
        """Order-free integer key of each node pair ``[M, 2]``."""
        pairs = np.asarray(pairs, dtype=np.int64)
        return np.minimum(pairs[:, 0], pairs[:, 1]) * self.num_nodes + np.maximum(pairs[:, 0], pairs[:, 1])

    def has_edges(self, pairs: Any) -> np.ndarray:
        """``[M]`` bool: each pair of node ids is an edge of the graph (either direction)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        return in_sorted(self.edge_keys(self.edges), self.edge_keys(pairs))

    def expand(self, owner: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every edge incident to ``nodes``: ``(owner, near, far)`` with the owner repeated per edge.

        ``owner`` tags which search (alert) each frontier node belongs to, so one call expands the
        frontiers of a whole batch.
        """
        start = self.indptr[nodes]
        deg = self.indptr[nodes + 1] - start
        total = int(deg.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        offsets = np.repeat(start - np.cumsum(deg) + deg, deg) + np.arange(total, dtype=np.int64)
        return np.repeat(owner, deg), np.repeat(nodes, deg), self.indices[offsets]

    def hop_distances(self, a: Any, b: Any, max_depth: int | None = None) -> np.ndarray:
        """``[B]`` hops between edges ``a[i]`` and ``b[i]`` (node-id pairs): 0 for the same edge,
        1 when they share a node, else 1 + the shortest path between their endpoints; inf beyond
        ``max_depth`` hops or when unreachable. All rows in one batched breadth-first search."""
        a = np.asarray(a, dtype=np.int64).reshape(-1, 2)
        b = np.asarray(b, dtype=np.int64).reshape(-1, 2)
        if a.shape != b.shape:
            raise ValueError(f"a/b: expected the same number of edges; got {a.shape[0]} and {b.shape[0]}")
        self.check_ids(a, "a")
        self.check_ids(b, "b")
        n, rows = self.num_nodes, a.shape[0]
        out = np.full(rows, np.inf)
        out[self.edge_keys(a) == self.edge_keys(b)] = 0.0
        targets = np.unique(np.repeat(np.arange(rows), 2) * n + b.reshape(-1))
        keys = np.unique(np.repeat(np.arange(rows), 2) * n + a.reshape(-1))
        visited = keys
        depth = 0
        limit = np.inf if max_depth is None else max_depth
        while keys.size and depth + 1 <= limit:
            hit = np.unique(keys[in_sorted(targets, keys)] // n)
            fresh = hit[~np.isfinite(out[hit])]
            out[fresh] = depth + 1
            owner, node = keys // n, keys % n
            keep = ~np.isfinite(out[owner])
            if not keep.any():
                break
            o, _, far = self.expand(owner[keep], node[keep])
            nxt = np.unique(o * n + far)
            nxt = nxt[~in_sorted(visited, nxt)]
            visited = np.union1d(visited, nxt)
            keys, depth = nxt, depth + 1
        return out

    def shortest_path(self, sources: Iterable[int], target: int) -> list[int]:
        """A shortest path (networkx, bidirectional BFS) from the nearest of ``sources`` to ``target``."""
        best: list[int] | None = None
        for s in dict.fromkeys(int(x) for x in sources):
            try:
                path = nx.bidirectional_shortest_path(self.nx, s, int(target))
            except nx.NetworkXNoPath:
                continue
            if best is None or len(path) < len(best):
                best = path
        if best is None:
            raise ValueError(f"target: node {self.names[int(target)]!r} is not reachable from the sources")
        return best

    def describe(self) -> dict[str, Any]:
        """Sizes, for reports."""
        per_kind = np.bincount(self.kinds, minlength=len(KINDS))
        counts = {f"{k}s": int(c) for k, c in zip(KINDS, per_kind) if c or k in KINDS[:3]}
        return {"nodes": self.num_nodes, "edges": self.num_edges, **counts}
