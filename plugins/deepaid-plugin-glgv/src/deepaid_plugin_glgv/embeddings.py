"""Node embeddings from random walks: skip-gram with negative sampling, in torch.

Walks are taken for every start node at once on the CSR adjacency (one numpy step per walk
position); the skip-gram pairs of every window offset are formed by slicing the walk matrix.
"""

from __future__ import annotations

from typing import Any

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
