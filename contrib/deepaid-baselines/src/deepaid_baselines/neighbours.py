"""The nearest training-normal row as the reference: explanation by example."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from deepaid_baselines.base import BaselineSearch, flat, top_k_mask
from deepaid_sdk.constraints import Constraint, changeable_mask
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.results import InterpretationBatch


@torch.no_grad()
def nearest_rows(x: Tensor, rows: Tensor, *, chunk: int = 8192, queries: int = 1024) -> tuple[Tensor, Tensor]:
    """Per row of ``x [B, N]``: index and Euclidean distance of its nearest row of ``rows [M, N]``.

    Distances are computed in ``[queries, chunk]`` blocks, so memory stays bounded.
    """
    best_d = torch.full((x.shape[0],), float("inf"), device=x.device, dtype=x.dtype)
    best_i = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
    for a0 in range(0, x.shape[0], queries):
        xa = x[a0 : a0 + queries]
        d_a, i_a = best_d[a0 : a0 + queries], best_i[a0 : a0 + queries]
        for r0 in range(0, rows.shape[0], chunk):
            d, i = torch.cdist(xa, rows[r0 : r0 + chunk]).min(dim=1)
            better = d < d_a
            d_a.copy_(torch.where(better, d, d_a))
            i_a.copy_(torch.where(better, i + r0, i_a))
    return best_i, best_d


class NearestNormalSearch(BaselineSearch):
    """The closest training-normal row; the anomaly changes on its K most different features only.

    :param chunk: rows per block of the pairwise-distance computation.
    """

    name = "nearest_normal"
    needs_normal = True

    def __init__(self, *, normal: Any = None, seed: int = 0, k: int | None = None, chunk: int = 8192) -> None:
        super().__init__(normal=normal, seed=seed, k=k)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk: expected a positive integer; got {chunk!r}")
        self.chunk = chunk

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        started = time.perf_counter()
        rows = flat(self.normal_rows(adapter))
        a = flat(anomalies)
        if rows.shape[1] != a.shape[1]:
            raise ValueError(f"normal: rows have {rows.shape[1]} features; the anomalies have {a.shape[1]}")
        index, dist = nearest_rows(a, rows, chunk=self.chunk)
        neighbour = rows[index]
        k = self.budget(constraints, a.shape[1])
        chosen = top_k_mask((neighbour - a).abs(), changeable_mask(constraints, anomalies), k)
        details = [{"neighbour": i, "neighbour_distance": d} for i, d in zip(index.tolist(), dist.double().tolist())]
        return self.finish(
            adapter,
            anomalies,
            chosen,
            neighbour,
            constraints,
            started=started,
            params={"k": k, "values": "nearest normal row"},
            details=details,
        )
