"""The edge adapter: a login edge ``(src, dst)`` scored as ``1 - P(edge)`` by a link classifier.

Edge features are the Hadamard product of the two node embeddings. The classifier is any
callable on ``[B, D]`` edge features returning ``P(edge)`` in ``[0, 1]`` (our ``LinkClassifier`` or
the user's own, a torch tensor or a numpy array), or a fitted estimator with ``predict_proba``
(scikit-learn; see ``classifiers`` for when it gets an exact torch twin). Embeddings are a matrix in
the graph's node order, or keyed by node name (``KeyedEmbeddings``, a ``{name: vector}`` mapping, a
pandas DataFrame indexed by name), which the adapter puts in the graph's order.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from deepaid_plugin_glgv.classifiers import link_classifier
from deepaid_plugin_glgv.embeddings import KeyedEmbeddings
from deepaid_plugin_glgv.graph import AuthGraph
from deepaid_sdk.checks import check_output
from deepaid_sdk.model.adapters import ModelAdapter, model_device


class LinkClassifier(nn.Module):
    """Logistic regression on edge features: ``P(edge) = sigmoid(w . (e_src * e_dst) + b)``."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    @property
    def in_features(self) -> int:
        return int(self.linear.in_features)

    def logits(self, features: Tensor) -> Tensor:
        return self.linear(features).squeeze(-1)

    def forward(self, features: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(features))


def _as_embeddings(value: Any, num_nodes: int) -> Tensor:
    if isinstance(value, Tensor):
        emb = value.detach()
    elif isinstance(value, (np.ndarray, list, tuple)):
        emb = torch.as_tensor(np.asarray(value, dtype=np.float32))
    else:
        raise TypeError(f"embeddings: expected a [N, D] array or tensor; got {type(value).__name__}")
    if emb.ndim != 2 or emb.shape[1] == 0:
        raise ValueError(f"embeddings: expected a [N, D] matrix with D >= 1; got shape {list(emb.shape)}")
    if emb.shape[0] != num_nodes:
        raise ValueError(f"embeddings: expected one row per graph node ({num_nodes}); got {emb.shape[0]} rows")
    emb = emb.to(torch.float32)
    if not bool(torch.isfinite(emb).all()):
        raise ValueError("embeddings: contain NaN or inf")
    return emb


class EdgeAdapter(ModelAdapter):
    """GL-GV edge scorer: a sample is ``[src, dst]`` node ids; score = 1 - P(edge) from the classifier.

    :param embeddings: ``[N, D]`` in the order of ``graph.names``, or keyed by node name
        (``KeyedEmbeddings``, ``{name: vector}``, a DataFrame indexed by name; names the graph
        lacks are counted in ``describe()["unused_embeddings"]``).
    :param classifier: a torch callable on edge features, or a fitted estimator with
        ``predict_proba`` (``classifier_route`` says how it is scored: see ``classifiers``).
    """

    sample_shape = (2,)
    input_dtype = torch.int64

    def __init__(
        self,
        graph: AuthGraph,
        embeddings: Any,
        classifier: Callable[[Tensor], Tensor] | nn.Module,
        threshold: float | None = None,
        *,
        eps: float = 0.0,
        device: Any = None,
    ) -> None:
        if not isinstance(graph, AuthGraph):
            raise TypeError(f"graph: expected an AuthGraph; got {type(graph).__name__}")
        keyed = KeyedEmbeddings.of(embeddings)
        #: Embedded node names the graph does not hold (keyed embeddings only).
        self.unused_embeddings = 0
        if keyed is not None:
            rows, self.unused_embeddings = keyed.aligned(graph.names)
            emb = _as_embeddings(rows, graph.num_nodes)
        else:
            emb = _as_embeddings(embeddings, graph.num_nodes)
        check = graph.edges[:: max(1, -(-graph.num_edges // 4096))]
        check_features = emb[check[:, 0]] * emb[check[:, 1]]
        classifier, route = link_classifier(classifier, check_features)
        #: How the classifier is scored: ``torch``, a torch twin of an estimator, or its ``predict_proba``.
        self.classifier_route = route
        has_params = isinstance(classifier, nn.Module) and any(True for _ in classifier.parameters())
        device = model_device(classifier, device, "classifier") if device is not None or has_params else emb.device
        super().__init__(threshold, eps=eps, device=device)
        self.graph = graph
        self.embeddings = emb.to(self.device)
        self.classifier = classifier
        self._feature_scale: float | None = None
        self._check_width()

    @property
    def dim(self) -> int:
        """Width D of the node embeddings and edge features."""
        return int(self.embeddings.shape[1])

    def _check_width(self) -> None:
        expected = getattr(self.classifier, "in_features", None)
        if isinstance(expected, int) and expected != self.dim:
            raise ValueError(
                f"embeddings: width {self.dim} does not fit the classifier, which takes {expected} edge features"
            )
        probe = self.embeddings[:2] * self.embeddings[:2]
        try:
            with torch.no_grad():
                self.edge_probability(probe)
        except ValueError:
            raise
        except Exception as exc:
            raise ValueError(
                f"embeddings: the classifier cannot score edge features of width {self.dim} "
                f"({type(exc).__name__}: {exc})"
            ) from None

    @property
    def feature_scale(self) -> float:
        """Mean magnitude of the graph's edge features (a stride sample of at most 65,536 edges), cached.

        A property of the detector, not of a batch: the search measures its steps in it, so an
        alert's explanation does not depend on which other alerts share its batch.
        """
        if self._feature_scale is None:
            edges = self.graph.edges[:: max(1, -(-self.graph.num_edges // 65_536))]
            with torch.no_grad():
                value = (
                    float(self.edge_features(torch.as_tensor(edges, device=self.device)).abs().mean())
                    if edges.size
                    else 0.0
                )
            self._feature_scale = value if np.isfinite(value) and value > 0 else 1.0
        return self._feature_scale

    def edge_features(self, x: Tensor) -> Tensor:
        """``[B, D]`` Hadamard products of the endpoints' embeddings (one gather per endpoint)."""
        emb = self.embeddings
        return emb.index_select(0, x[:, 0].contiguous()) * emb.index_select(0, x[:, 1].contiguous())

    def edge_probability(self, features: Tensor) -> Tensor:
        """``[B]`` P(edge) of edge features, from one classifier call (a numpy result is taken as a tensor
        without gradient; ``[B, 1]`` as ``[B]``)."""
        out = self.classifier(features)
        if isinstance(out, (np.ndarray, list)):
            out = torch.as_tensor(np.asarray(out, dtype=np.float32), device=features.device)
        if isinstance(out, Tensor) and out.ndim == 2 and out.shape[0] == features.shape[0]:
            if out.shape[1] == 1:
                out = out[:, 0]
            elif out.shape[1] == 2:
                raise ValueError(
                    f"classifier: returned two columns per edge {list(out.shape)} (as predict_proba does); expected "
                    "P(edge) [B]: return that column, or pass the fitted estimator itself (it has predict_proba)"
                )
        return check_output(
            out, (features.shape[0],), "classifier", "one probability P(edge) per edge (a tensor or numpy array)"
        )

    def score_features(self, features: Tensor) -> Tensor:
        """``[B]`` anomaly scores ``1 - P(edge)`` of edge features (differentiable)."""
        return 1.0 - self.edge_probability(features)

    def score(self, x: Tensor) -> Tensor:
        return self.score_features(self.edge_features(x))

    def prepare(self, x: Any, name: str = "x") -> Tensor:
        """Edges ``[B, 2]`` as node ids (ints, whole floats) or node names, checked against the graph."""
        if isinstance(x, Tensor):
            arr = x.detach().cpu().numpy()
        elif isinstance(x, (np.ndarray, list, tuple)):
            arr = np.asarray(x)
        else:
            raise TypeError(
                f"{name}: expected edges as a [B, 2] array or tensor of node ids or names; got {type(x).__name__}"
            )
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ValueError(f"{name}: expected edges of shape [B, 2] (src, dst) with B >= 1; got {list(arr.shape)}")
        if arr.dtype.kind in "USO":
            ids = self.graph.ids(arr, name)
        elif arr.dtype.kind in "iu":
            ids = arr.astype(np.int64)
        elif arr.dtype.kind == "f":
            if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
                raise TypeError(f"{name}: expected whole node ids; got non-integer values")
            ids = arr.astype(np.int64)
        else:
            raise TypeError(f"{name}: expected node ids or names; got dtype {arr.dtype}")
        self.graph.check_ids(ids, name)
        return torch.as_tensor(ids, dtype=torch.int64, device=self.device)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "dim": self.dim,
            "nodes": self.graph.num_nodes,
            "classifier": type(self.classifier).__name__,
            "classifier_route": self.classifier_route,
            "unused_embeddings": self.unused_embeddings,
        }
