"""Node embeddings from random walks: skip-gram with negative sampling, in torch.

Walks are taken for every start node at once on the CSR adjacency (one numpy step per walk
position); the skip-gram pairs of every window offset are formed by slicing the walk matrix.
Embeddings made elsewhere come in keyed by node name (``KeyedEmbeddings``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import attrs
import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_glgv.graph import AuthGraph
from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.training import train_minibatches


def random_walks(graph: AuthGraph, *, walks_per_node: int = 10, walk_length: int = 20, seed: int = 0) -> np.ndarray:
    """``[N * walks_per_node, walk_length]`` uniform random walks, ``walks_per_node`` from every node.

    A walk that reaches a node without neighbours stays there.
    """
    if not isinstance(graph, AuthGraph):
        raise TypeError(f"graph: expected an AuthGraph; got {type(graph).__name__}")
    walks_per_node = check_positive_int(walks_per_node, "walks_per_node")
    walk_length = check_positive_int(walk_length, "walk_length", minimum=2)
    rng = np.random.default_rng(check_positive_int(seed, "seed", minimum=0))
    current = np.repeat(np.arange(graph.num_nodes, dtype=np.int64), walks_per_node)
    walks = np.empty((current.size, walk_length), dtype=np.int64)
    walks[:, 0] = current
    degree = graph.degrees
    last = max(graph.indices.size - 1, 0)
    for step in range(1, walk_length):
        deg = degree[current]
        pick = (rng.random(current.size) * deg).astype(np.int64)
        if graph.indices.size:
            nxt = graph.indices[np.minimum(graph.indptr[current] + pick, last)]
            current = np.where(deg > 0, nxt, current)
        walks[:, step] = current
    return walks


def skipgram_pairs(walks: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(centre, context)`` node ids of every pair at most ``window`` apart in a walk, both directions."""
    window = check_positive_int(window, "window")
    centres, contexts = [], []
    for offset in range(1, min(window, walks.shape[1] - 1) + 1):
        left, right = walks[:, :-offset].reshape(-1), walks[:, offset:].reshape(-1)
        centres += [left, right]
        contexts += [right, left]
    return np.concatenate(centres), np.concatenate(contexts)


def train_skipgram(
    walks: np.ndarray,
    num_nodes: int,
    *,
    dim: int = 32,
    window: int = 4,
    negatives: int = 5,
    epochs: int = 2,
    batch_size: int | None = None,
    lr: float = 0.02,
    seed: int = 0,
    device: Any = "cpu",
) -> Tensor:
    """``[num_nodes, dim]`` node embeddings by skip-gram with negative sampling over ``walks``.

    Negatives are drawn from the walks' node frequencies to the power 0.75 (word2vec's choice).
    ``batch_size`` None: pairs / 100, within [256, 8192] (small graphs still get ~100 steps per epoch).
    """
    walks = np.asarray(walks, dtype=np.int64)
    if walks.ndim != 2 or walks.size == 0:
        raise ValueError(f"walks: expected a non-empty [W, L] array of node ids; got shape {walks.shape}")
    num_nodes = check_positive_int(num_nodes, "num_nodes")
    if walks.min() < 0 or walks.max() >= num_nodes:
        raise ValueError(f"walks: node ids must lie in [0, {num_nodes}); got [{walks.min()}, {walks.max()}]")
    dim, negatives = check_positive_int(dim, "dim"), check_positive_int(negatives, "negatives")
    epochs = check_positive_int(epochs, "epochs")
    lr = check_finite_number(lr, "lr", above=0)
    device = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(check_positive_int(seed, "seed", minimum=0))
    centre_np, context_np = skipgram_pairs(walks, window)
    if batch_size is None:
        batch_size = min(8192, max(256, centre_np.size // 100))
    batch_size = check_positive_int(batch_size, "batch_size")
    centre = torch.as_tensor(centre_np, device=device)
    context = torch.as_tensor(context_np, device=device)
    freq = torch.as_tensor(np.bincount(walks.reshape(-1), minlength=num_nodes), dtype=torch.float64)
    noise = freq.pow(0.75)
    noise = (noise / noise.sum()).to(torch.float32)

    emb_in = ((torch.rand(num_nodes, dim, generator=gen) - 0.5) / dim).to(device).requires_grad_(True)
    emb_out = torch.zeros(num_nodes, dim, device=device, requires_grad=True)

    def batch_loss(idx: Tensor) -> Tensor:
        c, ctx = centre[idx], context[idx]
        neg = torch.multinomial(noise, idx.numel() * negatives, replacement=True, generator=gen)
        neg = neg.to(device).reshape(idx.numel(), negatives)
        vc = emb_in[c]
        pos = (vc * emb_out[ctx]).sum(dim=1)
        negs = torch.bmm(emb_out[neg], vc[:, :, None]).squeeze(2)
        return -(torch.nn.functional.logsigmoid(pos).mean() + torch.nn.functional.logsigmoid(-negs).sum(dim=1).mean())

    train_minibatches(
        [emb_in, emb_out],
        batch_loss,
        centre.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=gen,
        device=device,
        desc="training node embeddings",
    )
    return emb_in.detach()


def embed_graph(
    graph: AuthGraph,
    *,
    dim: int = 32,
    walks_per_node: int = 10,
    walk_length: int = 20,
    window: int = 4,
    negatives: int = 5,
    epochs: int = 2,
    lr: float = 0.02,
    seed: int = 0,
    device: Any = "cpu",
) -> Tensor:
    """Walks plus skip-gram in one call: ``[N, dim]`` embeddings of ``graph``'s nodes."""
    walks = random_walks(graph, walks_per_node=walks_per_node, walk_length=walk_length, seed=seed)
    return train_skipgram(
        walks,
        graph.num_nodes,
        dim=dim,
        window=window,
        negatives=negatives,
        epochs=epochs,
        lr=lr,
        seed=seed,
        device=device,
    )


@attrs.frozen(eq=False)
class KeyedEmbeddings:
    """Node embeddings keyed by node name: ``vectors[i]`` is the embedding of ``names[i]``.

    Build it with ``from_files`` (a ``.npy`` matrix and a text file of node names, one per line, in the
    matrix's row order), ``from_mapping`` (``{name: vector}``) or ``from_frame`` (a pandas DataFrame
    indexed by name, one column per dimension). ``EdgeAdapter`` takes any of these (or the mapping or
    DataFrame directly) and puts the rows in the graph's node order itself.
    """

    names: np.ndarray
    """``[M]`` node names (unique)."""
    vectors: np.ndarray
    """``[M, D]`` float32 embeddings."""

    def __attrs_post_init__(self) -> None:
        names, vectors = np.asarray(self.names).reshape(-1).astype(str), np.asarray(self.vectors)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ValueError(f"embeddings: expected a [N, D] matrix with D >= 1; got shape {list(vectors.shape)}")
        if names.size != vectors.shape[0]:
            raise ValueError(
                f"embeddings: {names.size} node names for {vectors.shape[0]} vectors; expected one name per row"
            )
        unique, counts = np.unique(names, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"embeddings: node names given twice: {unique[counts > 1][:10].tolist()}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "vectors", vectors.astype(np.float32))

    @classmethod
    def from_files(cls, vectors: str | os.PathLike[str], nodes: str | os.PathLike[str]) -> KeyedEmbeddings:
        """A ``.npy`` matrix ``[N, D]`` (``np.save``; read without pickle) and its node names, one per line."""
        matrix = np.load(vectors, allow_pickle=False)
        with open(nodes, encoding="utf-8") as handle:
            names = [line.rstrip("\r\n") for line in handle]
        while names and not names[-1]:
            names.pop()
        return cls(np.asarray(names, dtype=str), matrix)

    @classmethod
    def from_mapping(cls, mapping: Mapping[Any, Any]) -> KeyedEmbeddings:
        """``{node name: vector}``; every vector of one width."""
        if not mapping:
            raise ValueError("embeddings: the mapping holds no node")
        widths = {np.shape(v) for v in mapping.values()}
        if len(widths) != 1:
            raise ValueError(f"embeddings: vectors of different shapes {sorted(widths)[:5]}; expected one width D")
        return cls(
            np.asarray([str(k) for k in mapping], dtype=str), np.stack([np.asarray(v) for v in mapping.values()])
        )

    @classmethod
    def from_frame(cls, frame: Any) -> KeyedEmbeddings:
        """A pandas DataFrame indexed by node name, one numeric column per dimension."""
        return cls(np.asarray(frame.index, dtype=str), frame.to_numpy(dtype=np.float64))

    @classmethod
    def of(cls, value: Any) -> KeyedEmbeddings | None:
        """``value`` as keyed embeddings where it is keyed (this class, a mapping, a DataFrame), else None."""
        if isinstance(value, KeyedEmbeddings):
            return value
        if isinstance(value, Mapping):
            return cls.from_mapping(value)
        if hasattr(value, "index") and hasattr(value, "to_numpy") and hasattr(value, "columns"):
            return cls.from_frame(value)
        return None

    def aligned(self, names: np.ndarray) -> tuple[np.ndarray, int]:
        """``([N, D]`` rows in the order of the graph's ``names``, the number of embedded names the graph
        lacks``)``; graph nodes without an embedding are a ValueError naming them."""
        order = np.argsort(self.names)
        sorted_names = self.names[order]
        pos = np.minimum(np.searchsorted(sorted_names, names), sorted_names.size - 1)
        found = sorted_names[pos] == names
        if not found.all():
            missing = names[~found]
            raise ValueError(
                f"embeddings: {missing.size} graph node(s) have no embedding: {missing[:10].tolist()}"
                f"{' ...' if missing.size > 10 else ''} (every node with a training edge needs one)"
            )
        return self.vectors[order[pos]], int(self.names.size - names.size)
