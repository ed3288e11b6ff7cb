"""The GL-GV detector: embeddings of the authentication graph, a link classifier, a threshold.

Training sees only the graph of a normal period: the classifier learns observed edges against
sampled non-edges (one endpoint of a real edge swapped for a random node of the same kind, so
it learns habits rather than node types); the threshold is a percentile of the training
edges' own scores.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_glgv.adapters import EdgeAdapter, LinkClassifier
from deepaid_plugin_glgv.embeddings import embed_graph
from deepaid_plugin_glgv.graph import KINDS, AuthGraph
from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.training import train_minibatches

#: Entries of a saved detector (``GLGV.state_dict``).
STATE_KEYS = frozenset({"embeddings", "threshold", "classifier.linear.weight", "classifier.linear.bias"})


def sample_non_edges(graph: AuthGraph, n: int, *, seed: int = 0) -> np.ndarray:
    """``[n, 2]`` node pairs that are not edges: a random edge with one endpoint swapped for a node of its kind."""
    n = check_positive_int(n, "n")
    if graph.num_edges == 0:
        raise ValueError("graph: has no edges to sample non-edges from")
    rng = np.random.default_rng(check_positive_int(seed, "seed", minimum=0))
    by_kind = np.argsort(graph.kinds, kind="stable")
    count = np.bincount(graph.kinds, minlength=len(KINDS))
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    known = np.sort(graph.edge_keys(graph.edges))
    found: list[np.ndarray] = []
    total = 0
    for _ in range(50):
        pairs = graph.edges[rng.integers(0, graph.num_edges, size=2 * n)].copy()
        side = rng.integers(0, 2, size=pairs.shape[0])
        kept = pairs[np.arange(pairs.shape[0]), 1 - side]
        kind = graph.kinds[pairs[np.arange(pairs.shape[0]), side]]
        swapped = by_kind[offset[kind] + (rng.random(pairs.shape[0]) * count[kind]).astype(np.int64)]
        pairs[np.arange(pairs.shape[0]), side] = swapped
        keys = graph.edge_keys(pairs)
        pos = np.minimum(np.searchsorted(known, keys), known.size - 1)
        ok = (known[pos] != keys) & (swapped != kept)
        found.append(pairs[ok])
        total += int(ok.sum())
        if total >= n:
            break
    out = np.concatenate(found)[:n]
    if out.shape[0] == 0:
        raise ValueError("graph: every same-kind pair is already an edge; no non-edges to sample")
    return out


def train_link_classifier(
    positive: Tensor,
    negative: Tensor,
    *,
    epochs: int = 300,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    batch_size: int = 65_536,
    seed: int = 0,
) -> LinkClassifier:
    """Logistic regression on edge features: ``positive`` (observed edges) against ``negative`` (non-edges)."""
    if positive.ndim != 2 or negative.ndim != 2 or positive.shape[1] != negative.shape[1]:
        raise ValueError(
            f"positive/negative: expected [*, D] feature matrices of one width; got "
            f"{list(positive.shape)} and {list(negative.shape)}"
        )
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.cat([positive, negative]).detach()
    y = torch.cat([torch.ones(positive.shape[0]), torch.zeros(negative.shape[0])]).to(x.device)
    # Features are products of small embeddings: standardise the scale once, fold it into the weights.
    scale = x.std(dim=0).clamp_min(1e-8)
    model = LinkClassifier(x.shape[1]).to(x.device)
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.bias.zero_()
    pos_weight = torch.tensor(negative.shape[0] / max(positive.shape[0], 1), device=x.device)

    def batch_loss(idx: Tensor) -> Tensor:
        logits = model.logits(x[idx] / scale)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y[idx], pos_weight=pos_weight)

    train_minibatches(
        model.parameters(),
        batch_loss,
        x.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=gen,
        device=x.device,
        weight_decay=weight_decay,
        desc="training the link classifier",
    )
    with torch.no_grad():
        model.linear.weight /= scale
    return model.eval()


@attrs.define(eq=False)
class GLGV:
    """A trained GL-GV detector: graph, node embeddings, link classifier and alert threshold."""

    graph: AuthGraph
    embeddings: Tensor
    """``[N, D]`` node embeddings."""
    classifier: LinkClassifier
    threshold: float
    """Scores ``1 - P(edge)`` above it are alerts."""

    @classmethod
    def fit(
        cls,
        graph: AuthGraph,
        *,
        dim: int = 32,
        walks_per_node: int = 10,
        walk_length: int = 20,
        window: int = 4,
        negatives: int = 5,
        epochs: int = 2,
        non_edges: float = 1.0,
        classifier_epochs: int = 300,
        percentile: float = 99.0,
        seed: int = 0,
        device: Any = "cpu",
    ) -> GLGV:
        """Embed ``graph`` from random walks, train the link classifier, set the threshold.

        :param non_edges: sampled non-edges per observed edge for the classifier.
        :param percentile: threshold = this percentile of the training edges' scores.
        """
        if not isinstance(graph, AuthGraph):
            raise TypeError(f"graph: expected an AuthGraph; got {type(graph).__name__}")
        percentile = check_finite_number(percentile, "percentile")
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile: expected a value in (0, 100]; got {percentile}")
        non_edges = check_finite_number(non_edges, "non_edges", above=0)
        emb = embed_graph(
            graph,
            dim=dim,
            walks_per_node=walks_per_node,
            walk_length=walk_length,
            window=window,
            negatives=negatives,
            epochs=epochs,
            seed=seed,
            device=device,
        )
        pos = torch.as_tensor(graph.edges, device=emb.device)
        neg = torch.as_tensor(
            sample_non_edges(graph, max(1, int(round(non_edges * graph.num_edges))), seed=seed), device=emb.device
        )
        classifier = train_link_classifier(
            emb[pos[:, 0]] * emb[pos[:, 1]],
            emb[neg[:, 0]] * emb[neg[:, 1]],
            epochs=check_positive_int(classifier_epochs, "classifier_epochs"),
            seed=seed,
        )
        detector = cls(graph, emb, classifier, 0.0)
        with torch.no_grad():
            scores = detector.adapter().score(pos).double().cpu()
        detector.threshold = float(torch.quantile(scores, percentile / 100.0))
        return detector

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def adapter(self, *, eps: float = 0.0) -> EdgeAdapter:
        """The ``ModelAdapter`` the interpreters use: edges as ``[B, 2]`` node ids, score = 1 - P(edge)."""
        return EdgeAdapter(self.graph, self.embeddings, self.classifier, self.threshold, eps=eps)

    def score_edges(self, edges: Any) -> np.ndarray:
        """Scores ``1 - P(edge)`` of edges given as node ids or names ``[B, 2]``."""
        return self.adapter().scores(edges).cpu().numpy().astype(np.float64)

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors to ``torch.save`` (load with ``torch.load(weights_only=True)`` and ``from_state_dict``)."""
        return {
            "embeddings": self.embeddings.cpu(),
            "threshold": torch.tensor(self.threshold, dtype=torch.float64),
            **{f"classifier.{k}": v.cpu() for k, v in self.classifier.state_dict().items()},
        }

    @classmethod
    def from_state_dict(cls, graph: AuthGraph, state: dict[str, Tensor], *, device: Any = "cpu") -> GLGV:
        """Rebuild a detector for ``graph`` from ``state_dict()`` output."""
        missing = STATE_KEYS - set(state)
        if missing:
            raise ValueError(f"state: missing entries {sorted(missing)}")
        emb = state["embeddings"].to(device=device, dtype=torch.float32)
        if emb.ndim != 2 or emb.shape[0] != graph.num_nodes:
            raise ValueError(
                f"state: embeddings of shape {list(emb.shape)} do not fit a graph of {graph.num_nodes} nodes"
            )
        classifier = LinkClassifier(emb.shape[1])
        classifier.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("classifier.")})
        return cls(graph, emb, classifier.to(device).eval(), float(state["threshold"]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state dict (no pickled objects)."""
        torch.save(self.state_dict(), path)

    @classmethod
    def load(cls, graph: AuthGraph, path: str | os.PathLike[str], *, device: Any = "cpu") -> GLGV:
        """Read a detector saved by ``save`` for the same ``graph``."""
        return cls.from_state_dict(graph, torch.load(path, map_location="cpu", weights_only=True), device=device)
