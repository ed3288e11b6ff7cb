"""Distances between edges ``[B, 2]`` (node ids): hops on the graph, and distance of edge embeddings."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_glgv.adapters import _as_embeddings
from deepaid_plugin_glgv.graph import AuthGraph
from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.distances import Distance


def _edge_ids(t: Tensor, name: str, num_nodes: int) -> Tensor:
    if t.shape[1] != 2:
        raise ValueError(f"distance {name}: expected edges [B, 2] (src, dst node ids); got {list(t.shape)}")
    if t.is_floating_point() and bool((t != t.round()).any()):
        raise TypeError(f"distance {name}: expected whole node ids; got non-integer values")
    ids = t.to(torch.int64)
    if bool(((ids < 0) | (ids >= num_nodes)).any()):
        raise ValueError(f"distance {name}: node ids must lie in [0, {num_nodes})")
    return ids


class HopDistance(Distance):
    """Hops between two edges on the graph: 0 same edge, 1 sharing a node, 1 + shortest path otherwise."""

    name = "graph-hops"
    differentiable = False

    def __init__(self, graph: AuthGraph, max_depth: int | None = None) -> None:
        if not isinstance(graph, AuthGraph):
            raise TypeError(f"graph: expected an AuthGraph; got {type(graph).__name__}")
        self.graph = graph
        self.max_depth = None if max_depth is None else check_positive_int(max_depth, "max_depth")

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        ea = _edge_ids(a, self.name, self.graph.num_nodes).cpu().numpy()
        eb = _edge_ids(b, self.name, self.graph.num_nodes).cpu().numpy()
        hops = self.graph.hop_distances(ea, eb, self.max_depth)
        return torch.as_tensor(hops.astype(np.float32), device=a.device)


class EdgeEmbeddingDistance(Distance):
    """Euclidean distance between edges' features (Hadamard products of their endpoints' embeddings)."""

    name = "edge-embedding"
    differentiable = False

    def __init__(self, embeddings: Any) -> None:
        emb = embeddings.embeddings if hasattr(embeddings, "embeddings") else embeddings
        self.embeddings = _as_embeddings(emb, emb.shape[0] if hasattr(emb, "shape") else len(emb))

    def features(self, edges: Tensor) -> Tensor:
        """``[B, D]`` edge features of node-id pairs."""
        emb = self.embeddings.to(edges.device)
        return emb[edges[:, 0]] * emb[edges[:, 1]]

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        n = self.embeddings.shape[0]
        fa = self.features(_edge_ids(a, self.name, n))
        fb = self.features(_edge_ids(b, self.name, n))
        return (fa - fb).pow(2).sum(dim=1).sqrt()
