"""Constraints on reference edges: a reference keeps the kinds of the alert's endpoints."""

from __future__ import annotations

import torch
from torch import Tensor

from deepaid_plugin_glgv.graph import AuthGraph
from deepaid_sdk.constraints import Constraint


class SameKindsConstraint(Constraint):
    """The reference edge joins the same kinds of node, position by position (a user->host login stays one)."""

    name = "same-kinds"

    def __init__(self, graph: AuthGraph) -> None:
        if not isinstance(graph, AuthGraph):
            raise TypeError(f"graph: expected an AuthGraph; got {type(graph).__name__}")
        self.kinds = torch.as_tensor(graph.kinds, dtype=torch.int8)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        if ref.ndim != 2 or ref.shape[1] != 2 or ref.shape != anomaly.shape:
            raise ValueError(
                f"same-kinds: expected edges [B, 2] of node ids; got {list(ref.shape)} and {list(anomaly.shape)}"
            )
        kinds = self.kinds.to(ref.device)
        n = kinds.shape[0]
        r, a = ref.to(torch.int64), anomaly.to(torch.int64)
        if bool((torch.minimum(r.min(), a.min()) < 0) | (torch.maximum(r.max(), a.max()) >= n)):
            raise ValueError(f"same-kinds: node ids must lie in [0, {n})")
        return (kinds.index_select(0, r[:, 0]) == kinds.index_select(0, a[:, 0])) & (
            kinds.index_select(0, r[:, 1]) == kinds.index_select(0, a[:, 1])
        )
