"""The ``graph`` reference search: the nearest existing edge the detector judges normal.

Two stages, both on the whole batch of alerts:

1. The ideal reference *embedding* e* of each alert's edge: the core's ``GradientSearch`` on
   edge features, with the classifier's score as a ``ScoreAdapter`` (fidelity + stability,
   optionally a K-sparse change). e* is where the alert's edge features would have to move to
   be judged normal. A classifier without a gradient (a scikit-learn estimator without a torch
   twin, a numpy function) gets the core's gradient-free ``BlackboxSearch`` instead, its
   candidate values from the features of the graph's edges judged normal (``ideal_search``).
2. Best-first over the graph, outward from both endpoints of every alert at once, one hop
   level per step up to ``max_depth``. A level's candidate edges (all alerts together) are
   scored in one batched call (embedding gather + Hadamard + one classifier call); candidates
   rank by (judged normal, hops, keeps the preferred endpoint -- ``keep`` --, distance of their
   edge features to e*). An alert stops at the
   first level holding an edge judged normal: no deeper edge can rank higher.

The reference is the chosen edge, oriented so that a shared endpoint keeps its position; the
explanation's ``details`` hold the hop path (networkx shortest path), names and scores.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_glgv.adapters import EdgeAdapter
from deepaid_plugin_glgv.graph import AuthGraph, in_sorted
from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.constraints import (
    ConcisenessConstraint,
    Constraint,
    FidelityConstraint,
    StabilityConstraint,
    all_satisfied,
)
from deepaid_sdk.distances import Distance, L2Distance
from deepaid_sdk.model.adapters import ModelAdapter, ScoreAdapter
from deepaid_sdk.model.differentiable import PROBE_ROWS, gradient_problem
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search import ReferenceSearch, build_batch
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.search.gradient import GradientSearch

TARGETS = ("ideal", "anomaly")
#: How e* is found: ``gradient``, ``blackbox`` (gradient-free), ``auto`` (gradient where the score has one).
IDEAL_SEARCHES = ("auto", "gradient", "blackbox")
#: Normal edge features the gradient-free e* search draws its candidate values from, at most.
IDEAL_NORMAL_ROWS = 2048
#: Which endpoint of the alert a reference keeps when a normal edge allows it (position 0 is the
#: source, the acting account; 1 the destination); ``"either"``: no preference.
KEEP = {"source": 0, "destination": 1, "either": None}


def orient(near: np.ndarray, far: np.ndarray, anomalies: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """``[M, 2]`` candidate edges oriented like their anomaly: fewest changed positions, then matching kinds."""
    u, v = anomalies[:, 0], anomalies[:, 1]
    diff_keep = (near != u).astype(np.int8) + (far != v)
    diff_swap = (far != u).astype(np.int8) + (near != v)
    kind_keep = (kinds[near] == kinds[u]).astype(np.int8) + (kinds[far] == kinds[v])
    kind_swap = (kinds[far] == kinds[u]).astype(np.int8) + (kinds[near] == kinds[v])
    swap = (diff_swap < diff_keep) | ((diff_swap == diff_keep) & (kind_swap > kind_keep))
    return np.stack([np.where(swap, far, near), np.where(swap, near, far)], axis=1)


def first_per_group(group: np.ndarray, key: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """Positions of the smallest ``(before, key)`` within each value of ``group`` (ties: first position)."""
    keys = (np.arange(group.size), key) if before is None else (np.arange(group.size), key, before)
    order = np.lexsort((*keys, group))
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    return order[starts]


class GraphReferenceSearch(ReferenceSearch):
    """Best-first search of the graph around an alert's endpoints for the nearest edge judged normal.

    :param max_depth: largest number of hops from the alert's edge to the reference edge (>= 1).
    :param target: ``"ideal"``: rank same-hop candidates by distance to e* (found by the gradient
        search on edge features); ``"anomaly"``: by distance to the alert's own edge features.
    :param keep: ``"source"``: among the edges of one hop level, those that keep the alert's source
        (the acting account: "this account normally logs into these hosts") rank first, so the
        reference changes the destination whenever the account has an edge judged normal, and
        changes the account only when it has none; ``"destination"`` likewise for the
        destination; ``"either"``: no preference (the link model is symmetric, so either
        endpoint may change). A hard rule is the core's ``FrozenConstraint([0])`` instead.
    :param ideal_search: how e* is found: ``"gradient"`` (the core gradient search), ``"blackbox"``
        (the core gradient-free search, for classifiers without a gradient), ``"auto"`` (gradient
        where the classifier's score has one on the alerts' edge features, else blackbox).
    :param ideal_steps: step budget of the gradient search for e*.
    :param ideal_lr: its step size, relative to the mean magnitude of the graph's edge features
        (``EdgeAdapter.feature_scale``: fixed by the detector, so a row's result is the same in any batch).
    :param ideal_k: at most this many feature dimensions may change in e* (None: any).
    :param init_noise: seeded start noise of that search, relative like ``ideal_lr`` (robustness).
    :param seed: seed of that noise.
    :param chunk: most candidate edges scored per call (bounds memory on huge frontiers).
    :param group: most alerts searched together (bounds the frontier arrays of big batches on
        graphs with hubs); each group is one batched search.
    """

    name = "graph"

    def __init__(
        self,
        max_depth: int = 3,
        target: str = "ideal",
        *,
        keep: str = "either",
        ideal_search: str = "auto",
        ideal_steps: int = 100,
        ideal_lr: float = 0.1,
        ideal_k: int | None = None,
        init_noise: float = 0.0,
        seed: int = 0,
        chunk: int = 1 << 20,
        group: int = 1024,
    ) -> None:
        self.max_depth = check_positive_int(max_depth, "max_depth")
        if target not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}; got {target!r}")
        self.target = target
        if not isinstance(keep, str) or keep not in KEEP:
            raise ValueError(f"keep: expected one of {tuple(KEEP)}; got {keep!r}")
        self.keep = keep
        if not isinstance(ideal_search, str) or ideal_search not in IDEAL_SEARCHES:
            raise ValueError(f"ideal_search: expected one of {IDEAL_SEARCHES}; got {ideal_search!r}")
        self.ideal_search = ideal_search
        self.ideal_steps = check_positive_int(ideal_steps, "ideal_steps")
        self.ideal_lr = check_finite_number(ideal_lr, "ideal_lr")
        if self.ideal_lr <= 0:
            raise ValueError(f"ideal_lr: expected a number > 0; got {self.ideal_lr}")
        self.ideal_k = None if ideal_k is None else check_positive_int(ideal_k, "ideal_k")
        self.init_noise = check_finite_number(init_noise, "init_noise", minimum=0.0)
        self.seed = check_positive_int(seed, "seed", minimum=0)
        self.chunk = check_positive_int(chunk, "chunk")
        self.group = check_positive_int(group, "group")

    def describe(self) -> dict[str, Any]:
        return {
            "search": self.name,
            "max_depth": self.max_depth,
            "target": self.target,
            "keep": self.keep,
            "ideal_search": self.ideal_search,
            "ideal_steps": self.ideal_steps,
            "ideal_lr": self.ideal_lr,
            "ideal_k": self.ideal_k,
            "init_noise": self.init_noise,
            "seed": self.seed,
        }

    def ideal_features(
        self, adapter: EdgeAdapter, features: Tensor, margin: float, lam: float
    ) -> tuple[Tensor, np.ndarray, str]:
        """e* ``[B, D]`` for edge features ``[B, D]``, whether each is judged normal, and the search used."""
        scorer = ScoreAdapter(
            adapter.score_features,
            threshold=adapter.threshold,
            eps=margin,
            sample_shape=(adapter.dim,),
            device=adapter.device,
        )
        # probed on the graph's first edges, a property of the detector: never of the batch
        with torch.no_grad():
            probe = adapter.edge_features(torch.as_tensor(adapter.graph.edges[:PROBE_ROWS], device=adapter.device))
        problem = None if self.ideal_search == "blackbox" else gradient_problem(scorer, probe)
        if problem is not None and self.ideal_search == "gradient":
            raise ValueError(
                f"search='gradient': the link classifier ({adapter.classifier_route}) has no gradient with "
                f"respect to the edge features ({problem}); use search='blackbox' (gradient-free) or 'auto'"
            )
        mode = "blackbox" if self.ideal_search == "blackbox" or problem is not None else "gradient"
        if mode == "blackbox":
            return (*self._ideal_blackbox(adapter, scorer, features, margin), mode)
        scale = adapter.feature_scale  # the detector's, not the batch's: a row's e* is the same in any batch
        search = GradientSearch(
            steps=self.ideal_steps,
            lr=self.ideal_lr * scale,
            init_noise=self.init_noise * scale,
            seed=self.seed,
            start="anomaly",
            prune=self.ideal_k is not None,
        )
        constraints: list[Constraint] = [FidelityConstraint(eps=margin), StabilityConstraint(lam=lam)]
        if self.ideal_k is not None and self.ideal_k < adapter.dim:
            constraints.append(ConcisenessConstraint(self.ideal_k))
        result = search.search(scorer, features, constraints, L2Distance())
        return torch.as_tensor(result.references, device=adapter.device), result.flipped, mode

    @torch.no_grad()
    def _ideal_blackbox(
        self, adapter: EdgeAdapter, scorer: ScoreAdapter, features: Tensor, margin: float
    ) -> tuple[Tensor, np.ndarray]:
        """e* by the core gradient-free search, candidate values from the graph's edges judged normal."""
        edges = adapter.graph.edges
        pool = torch.as_tensor(edges[:: max(1, -(-edges.shape[0] // (4 * IDEAL_NORMAL_ROWS)))], device=adapter.device)
        pool_features = adapter.edge_features(pool)
        normal = pool_features[adapter.score_features(pool_features) <= adapter.threshold - margin]
        if normal.shape[0] == 0:  # no edge judged normal: the graph's edges still give typical values
            normal = pool_features
        search = BlackboxSearch(normal=normal[:: max(1, -(-normal.shape[0] // IDEAL_NORMAL_ROWS))], target=None)
        constraints: list[Constraint] = [FidelityConstraint(eps=margin)]
        if self.ideal_k is not None and self.ideal_k < adapter.dim:
            constraints.append(ConcisenessConstraint(self.ideal_k))
        result = search.search(scorer, features, constraints, L2Distance())
        return torch.as_tensor(result.references, device=adapter.device), result.flipped

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        if not isinstance(adapter, EdgeAdapter):
            raise TypeError(
                f"adapter: the graph search needs an EdgeAdapter (edges of an AuthGraph); got {type(adapter).__name__}"
            )
        started = time.perf_counter()
        fidelity = next((c for c in constraints if isinstance(c, FidelityConstraint)), None)
        margin = fidelity.margin() if fidelity is not None else adapter.eps
        stability = next((c for c in constraints if isinstance(c, StabilityConstraint)), None)
        lam = stability.lam if stability is not None else 0.01
        # Fidelity is judged from the frontier's own scores; the rest filter candidate references.
        admissible = [c for c in constraints if not isinstance(c, (FidelityConstraint, StabilityConstraint))]
        with torch.no_grad():
            features = adapter.edge_features(anomalies)
        if self.target == "ideal":
            target, ideal_ok, ideal_mode = self.ideal_features(adapter, features, margin, lam)
        else:
            target, ideal_ok, ideal_mode = features, np.zeros(anomalies.shape[0], dtype=bool), "none"
        parts = [
            self._best_first(adapter, anomalies[lo : lo + self.group], target[lo : lo + self.group], margin, admissible)
            for lo in range(0, anomalies.shape[0], self.group)
        ]
        found = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        refs = torch.as_tensor(found["reference"], device=adapter.device)
        with torch.no_grad():
            ref_features = adapter.edge_features(refs)
            to_anomaly = (ref_features - features).norm(dim=1).cpu().numpy()
            to_target = (ref_features - target).norm(dim=1).cpu().numpy()
        details = edge_details(
            adapter.graph,
            anomalies.cpu().numpy(),
            found["reference"],
            near=found["near"],
            hops=found["hops"],
            found=found["found"],
            normal=found["normal"],
            extra={
                "levels_searched": found["levels"],
                "candidates_scored": found["scored"],
                "embedding_distance": to_anomaly,
                "ideal_distance": to_target,
                "ideal_reached": ideal_ok,
            },
        )
        batch = build_batch(
            adapter,
            anomalies,
            refs,
            steps=found["levels"],
            started=started,
            method=self.name,
            params={**self.describe(), "margin": margin, "lam": lam, "ideal_search_used": ideal_mode},
            details=details,
        )
        # The scores build_batch computed, copied into the (still unshared) detail dicts.
        for d, score, ref_score in zip(details, batch.scores, batch.reference_scores):
            d["anomaly_score"], d["reference_score"] = float(score), float(ref_score)
        return batch

    @torch.no_grad()
    def _score_level(
        self, adapter: EdgeAdapter, candidates: np.ndarray, owner: np.ndarray, target: Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and distances to the owner's target of a level's candidates: one call per ``chunk`` edges."""
        scores, dists = [], []
        for lo in range(0, candidates.shape[0], self.chunk):
            part = torch.as_tensor(candidates[lo : lo + self.chunk], device=adapter.device)
            feats = adapter.edge_features(part)
            scores.append(adapter.score_features(feats))
            own = torch.as_tensor(owner[lo : lo + self.chunk], device=adapter.device)
            dists.append((feats - target.index_select(0, own)).norm(dim=1))
        return torch.cat(scores).double().cpu().numpy(), torch.cat(dists).double().cpu().numpy()

    def _best_first(
        self, adapter: EdgeAdapter, anomalies: Tensor, target: Tensor, margin: float, admissible: list[Constraint]
    ) -> dict[str, np.ndarray]:
        graph: AuthGraph = adapter.graph
        anom = anomalies.cpu().numpy().astype(np.int64)
        b, n = anom.shape[0], graph.num_nodes
        bound = adapter.threshold - margin
        out = {
            "reference": anom.copy(),
            "near": np.full(b, -1, np.int64),
            "hops": np.zeros(b, np.int64),
            "levels": np.zeros(b, np.int64),
            "scored": np.zeros(b, np.int64),
            "normal": np.zeros(b, bool),
            "found": np.zeros(b, bool),
        }
        frontier = np.unique(np.repeat(np.arange(b), 2) * n + anom.reshape(-1))  # keys owner * n + node
        older = np.zeros(0, np.int64)
        edge_keys = graph.edge_keys(anom)
        for level in range(1, self.max_depth + 1):
            if frontier.size == 0:
                break
            owner, node = frontier // n, frontier % n
            out["levels"][owner] = level
            cb, near, far = graph.expand(owner, node)
            far_keys = cb * n + far
            back = in_sorted(older, far_keys)
            inside = in_sorted(frontier, far_keys)
            # An edge back to an older node was seen a level earlier; one inside the frontier is seen twice.
            keep = ~back & ~(inside & (near > far))
            keep &= np.minimum(near, far) * n + np.maximum(near, far) != edge_keys[cb]
            c_own, c_near, c_far = cb[keep], near[keep], far[keep]
            if c_own.size:
                cand = orient(c_near, c_far, anom[c_own], graph.kinds)
                scores, dists = self._score_level(adapter, cand, c_own, target)
                out["scored"] += np.bincount(c_own, minlength=b)
                ok = np.ones(c_own.size, bool)
                if admissible:
                    dev = adapter.device
                    ok = (
                        all_satisfied(
                            admissible, torch.as_tensor(cand, device=dev), torch.as_tensor(anom[c_own], device=dev)
                        )
                        .cpu()
                        .numpy()
                    )
                normal = ok & (scores <= bound)
                pos = KEEP[self.keep]
                # 0 where the candidate keeps the preferred endpoint (or there is no preference), else 1.
                moved = (
                    np.zeros(c_own.size, np.int8) if pos is None else (cand[:, pos] != anom[c_own, pos]).astype(np.int8)
                )
                # Ranking (judged normal, hops, keeps the preferred endpoint, distance): a normal edge
                # at this level ends the alert's search. Edges keeping an endpoint are all one hop away.
                if normal.any():
                    idx = np.flatnonzero(normal)[first_per_group(c_own[normal], dists[normal], moved[normal])]
                    self._take(out, idx, c_own, c_near, cand, level, normal=True)
                # Otherwise keep the nearest admissible edge of the first level that had one.
                fallback = ok & ~out["found"][c_own]
                if fallback.any():
                    idx = np.flatnonzero(fallback)[first_per_group(c_own[fallback], dists[fallback], moved[fallback])]
                    self._take(out, idx, c_own, c_near, cand, level, normal=False)
            if level == self.max_depth:
                break
            nxt = np.unique(far_keys[~back & ~inside & ~out["normal"][cb]])
            older = np.union1d(older, frontier)
            frontier = nxt
        return out

    @staticmethod
    def _take(
        out: dict[str, np.ndarray],
        idx: np.ndarray,
        owner: np.ndarray,
        near: np.ndarray,
        cand: np.ndarray,
        level: int,
        *,
        normal: bool,
    ) -> None:
        rows = owner[idx]
        out["reference"][rows] = cand[idx]
        out["near"][rows] = near[idx]
        out["hops"][rows] = level
        out["found"][rows] = True
        out["normal"][rows] = normal


def edge_details(
    graph: AuthGraph,
    anomalies: np.ndarray,
    references: np.ndarray,
    *,
    near: np.ndarray,
    hops: np.ndarray,
    found: np.ndarray,
    normal: np.ndarray,
    extra: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """JSON-safe extras per alert: node names and kinds, hops, the hop path (networkx), and ``extra`` columns.

    ``near[i]`` is the reference's endpoint nearer the alert (-1: work it out from both); an
    unreachable reference (``hops`` inf) gets ``hops`` None and no path.
    """
    details = []
    for i in range(anomalies.shape[0]):  # result assembly: one shortest path per alert
        ref = references[i]
        entry: dict[str, Any] = {
            "anomaly_edge": graph.node_names(anomalies[i]),
            "reference_edge": graph.node_names(ref),
            "anomaly_kinds": graph.kind_names(anomalies[i]),
            "reference_kinds": graph.kind_names(ref),
            "found": bool(found[i]),
            "judged_normal": bool(normal[i]),
            "hops": int(hops[i]) if np.isfinite(hops[i]) else None,
            **{k: v[i].item() for k, v in extra.items()},
            "path": [],
        }
        if found[i] and np.isfinite(hops[i]):
            ends = [int(near[i])] if near[i] >= 0 else [int(x) for x in dict.fromkeys(ref.tolist())]
            paths = [graph.shortest_path(anomalies[i], e) for e in ends]
            path = min(paths, key=len)
            far = int(ref[1] if ref[0] == path[-1] else ref[0])
            entry["path"] = graph.node_names(path + [far])
        details.append(entry)
    return details
