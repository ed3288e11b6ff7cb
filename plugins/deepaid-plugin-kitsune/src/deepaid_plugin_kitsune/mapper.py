"""KitNET's feature mapper: group correlated features, at most ``m`` per group.

Correlations are accumulated incrementally over a grace period (chunks merged with the
pairwise-update formulas for means and co-moments, so the result does not depend on how the
rows were chunked), turned into the distance ``1 - correlation``, clustered agglomeratively,
and the dendrogram is cut top-down: a cluster larger than ``m`` is replaced by its two children.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepaid_sdk.checks import check_positive_int

LINKAGES = ("single", "complete", "average")


class CorrelationTracker:
    """Running means and co-moments of a stream of rows ``[n, D]``, updated chunk by chunk."""

    def __init__(self, width: int) -> None:
        self.width = check_positive_int(width, "width")
        self.count = 0
        self.mean = np.zeros(width)
        self.comoment = np.zeros((width, width))

    def update(self, rows: Any) -> CorrelationTracker:
        """Merge a chunk of rows into the running statistics."""
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"rows: expected shape [n, {self.width}]; got {list(x.shape)}")
        if not np.isfinite(x).all():
            raise ValueError("rows: contains NaN or inf")
        m = x.shape[0]
        if m == 0:
            return self
        mean = x.mean(axis=0)
        centred = x - mean
        comoment = centred.T @ centred
        total = self.count + m
        delta = mean - self.mean
        self.comoment += comoment + np.outer(delta, delta) * (self.count * m / total)
        self.mean += delta * (m / total)
        self.count = total
        return self

    def correlation(self) -> np.ndarray:
        """``[D, D]`` Pearson correlation; a constant feature correlates with nothing but itself."""
        if self.count < 2:
            raise ValueError(f"correlation: needs at least 2 rows; got {self.count}")
        spread = np.sqrt(np.clip(np.diag(self.comoment), 0.0, None))
        scale = np.outer(spread, spread)
        corr = np.divide(self.comoment, scale, out=np.zeros_like(scale), where=scale > 1e-300)
        np.fill_diagonal(corr, 1.0)
        return np.clip(corr, -1.0, 1.0)

    def distance(self) -> np.ndarray:
        """``1 - correlation``: 0 for features moving together, 2 for opposite ones."""
        return 1.0 - self.correlation()


def agglomerate(distance: np.ndarray, linkage: str = "average") -> np.ndarray:
    """Agglomerative clustering of a distance matrix into a merge tree.

    Returns ``[D - 1, 2]`` children of each merge, numbered like the usual linkage matrix:
    leaves ``0..D-1``, merge ``i`` creates cluster ``D + i``. Ties merge the lowest indices first.
    """
    if linkage not in LINKAGES:
        raise ValueError(f"linkage: expected one of {LINKAGES}; got {linkage!r}")
    dist = np.array(distance, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"distance: expected a square matrix; got shape {list(dist.shape)}")
    n = dist.shape[0]
    dist = (dist + dist.T) / 2
    np.fill_diagonal(dist, np.inf)
    label = np.arange(n)  # current cluster id of each active slot
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    merges = np.zeros((max(n - 1, 0), 2), dtype=np.int64)
    for step in range(n - 1):
        flat = int(np.argmin(dist))
        i, j = divmod(flat, n)
        i, j = min(i, j), max(i, j)
        merges[step] = sorted((label[i], label[j]))
        # Lance-Williams update: the merged cluster takes slot i, slot j is retired.
        if linkage == "single":
            row = np.minimum(dist[i], dist[j])
        elif linkage == "complete":
            row = np.maximum(dist[i], dist[j])
        else:
            row = (size[i] * dist[i] + size[j] * dist[j]) / (size[i] + size[j])
        row[~alive] = np.inf
        dist[i, :], dist[:, i] = row, row
        dist[i, i] = np.inf
        dist[j, :], dist[:, j] = np.inf, np.inf
        alive[j] = False
        size[i] += size[j]
        label[i] = n + step
    return merges


def cut_tree(merges: np.ndarray, n: int, max_size: int) -> list[list[int]]:
    """Top-down cut of a merge tree into clusters of at most ``max_size`` leaves, sorted."""
    max_size = check_positive_int(max_size, "max_size")
    children = {n + i: (int(a), int(b)) for i, (a, b) in enumerate(merges)}
    leaves: dict[int, list[int]] = {i: [i] for i in range(n)}
    for node in sorted(children):  # children are always created before their parent
        a, b = children[node]
        leaves[node] = leaves[a] + leaves[b]
    stack = [n + len(merges) - 1] if len(merges) else list(range(n))
    groups = []
    while stack:
        node = stack.pop()
        if len(leaves[node]) <= max_size:
            groups.append(sorted(leaves[node]))
        else:
            stack.extend(children[node])
    return sorted(groups, key=lambda g: g[0])


class FeatureMapper:
    """Learns KitNET's feature groups from the first ``grace`` rows of normal data."""

    def __init__(
        self, max_size: int = 10, *, grace: int | None = 5000, linkage: str = "average", chunk: int = 1024
    ) -> None:
        self.max_size = check_positive_int(max_size, "max_size")
        self.grace = None if grace is None else check_positive_int(grace, "grace", minimum=2)
        if linkage not in LINKAGES:
            raise ValueError(f"linkage: expected one of {LINKAGES}; got {linkage!r}")
        self.linkage = linkage
        self.chunk = check_positive_int(chunk, "chunk")
        self.groups: list[list[int]] | None = None

    def fit(self, x: Any) -> list[list[int]]:
        """Groups (lists of feature indices) covering every feature once, each at most ``max_size`` long."""
        data = np.asarray(x, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] < 2:
            raise ValueError(f"x: expected a matrix [N >= 2, D]; got shape {list(data.shape)}")
        rows = data if self.grace is None else data[: self.grace]
        tracker = CorrelationTracker(data.shape[1])
        for start in range(0, rows.shape[0], self.chunk):
            tracker.update(rows[start : start + self.chunk])
        merges = agglomerate(tracker.distance(), self.linkage)
        self.groups = cut_tree(merges, data.shape[1], self.max_size)
        return self.groups
