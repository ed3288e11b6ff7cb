"""The first phases of the blackbox search on one chunk of alerts (see ``deepaid_sdk.search.blackbox``):
candidate values, screening and the greedy support; then the later phases of ``blackbox_refine``.
Each phase is batched over the chunk's live alerts: one call to ``adapter.score`` per round.
"""

from __future__ import annotations

import attrs
import torch
from torch import Tensor

from deepaid_sdk.constraints import changeable_mask
from deepaid_sdk.search import blackbox_refine as later
from deepaid_sdk.search.blackbox_scoring import INF, BlackboxScorer, flat, lexargmin, one_change_trials
from deepaid_sdk.search.blackbox_settings import BlackboxSettings
from deepaid_sdk.search.ranking import true_columns


@attrs.frozen(eq=False)
class NormalStats:
    """What the phases read of the normal rows: their values, spread, range and column quantiles."""

    rows: Tensor
    mean: Tensor
    inv_std: Tensor
    z_rows: Tensor
    """The rows in normal std units (for the nearest-neighbour candidates)."""
    scale: Tensor
    """``1 / std`` per feature (1 where a feature never varies): moves are compared in these units."""
    range_low: Tensor
    range_high: Tensor
    """The 0.5% and 99.5% quantiles per feature: the golden-section search's outer bracket."""
    column_quantiles: Tensor | None
    """``[Q, N]``: the settings' quantiles of each column, where they are a candidate source."""

    @classmethod
    def of(cls, normal: Tensor, quantiles: tuple[float, ...] | None) -> NormalStats:
        rows = flat(normal)
        mean = rows.mean(dim=0)
        std = rows.std(dim=0) if rows.shape[0] > 1 else torch.ones_like(mean)
        inv_std = torch.where(std > 0, 1.0 / std, torch.zeros_like(std))
        ends = torch.tensor([0.005, 0.995], dtype=torch.float64, device=rows.device)
        low, high = torch.quantile(rows.double(), ends, dim=0).to(rows.dtype)
        column = None
        if quantiles is not None:
            q = torch.tensor(quantiles, dtype=torch.float64, device=rows.device)
            column = torch.quantile(rows.double(), q, dim=0).to(rows.dtype)
        return cls(
            rows,
            mean,
            inv_std,
            (rows - mean) * inv_std,
            torch.where(std > 0, 1.0 / std, torch.ones_like(std)),
            low,
            high,
            column,
        )


#: Normal rows nearest by the plain distance among which the trimmed distance picks the neighbours.
NEIGHBOUR_POOL = 128
#: Alerts per block of the trimmed distance (``[block, pool, N]`` differences at once).
TRIM_BLOCK = 256


def _trimmed_neighbours(z: Tensor, z_rows: Tensor, d: Tensor, m: int, drop: int) -> Tensor:
    """``[B, m]`` indices of the normal rows nearest each alert once its ``drop`` largest per-feature
    differences are left out, among the ``NEIGHBOUR_POOL`` nearest by the plain distance ``d``.

    The alert's causes (at most K features) are far from every normal row and would pull the plain
    neighbours towards rows that happen to be near them there; left out, the neighbours agree with
    the alert on its normal features, so only the causes need large moves.
    """
    pool = d.topk(min(NEIGHBOUR_POOL, z_rows.shape[0]), dim=1, largest=False).indices  # [B, P]
    if drop < 1:
        return pool[:, :m]
    out = []
    for rows, close in zip(z.split(TRIM_BLOCK), pool.split(TRIM_BLOCK)):
        diff = (rows[:, None, :] - z_rows[close]).pow(2)  # [b, P, N]
        trimmed = diff.sum(dim=2) - diff.topk(drop, dim=2).values.sum(dim=2)
        # Stable: on equal trimmed distances the plain nearer row first.
        out.append(torch.gather(close, 1, torch.sort(trimmed, dim=1, stable=True).indices[:, :m]))
    return torch.cat(out) if out else pool[:, :m]


class BlackboxRun:
    """One search's fixed inputs (scorer, budget, settings, normal data) and its phases on a chunk of alerts."""

    def __init__(
        self, scorer: BlackboxScorer, k: int, normal: Tensor | None, reconstructs: bool, settings: BlackboxSettings
    ) -> None:
        self.scorer, self.k, self.settings, self.reconstructs = scorer, k, settings, reconstructs
        sources = [v for v in settings.values if v != "reconstruction" or reconstructs]
        if normal is None:
            sources = [v for v in sources if v == "reconstruction"]
        self.sources = tuple(sources)
        self.candidates = sum(len(settings.quantiles) if s == "quantiles" else 1 for s in sources)
        self.screened = max(settings.screen, 3 * k)
        self.normal = (
            None if normal is None else NormalStats.of(normal, settings.quantiles if "quantiles" in sources else None)
        )

    @torch.no_grad()
    def values(self, anomalies: Tensor) -> Tensor:
        """``[B, N, C]`` candidate values per alert and feature."""
        a = flat(anomalies)
        out = []
        normal = self.normal
        if normal is not None and ({"neighbours", "nearest"} & set(self.sources)):
            z = (a - normal.mean) * normal.inv_std
            # Exact pairwise differences, not the matmul shortcut: a row's neighbours never depend
            # on how many rows share the call (BLAS blocking changes the rounding).
            d = torch.cdist(z, normal.z_rows, compute_mode="donot_use_mm_for_euclid_dist")
            m = min(self.settings.neighbours, normal.z_rows.shape[0])
            near = _trimmed_neighbours(z, normal.z_rows, d, m, min(self.k, z.shape[1] - 1))
            rows = normal.rows[near]  # [B, m, N]
        for source in self.sources:
            if source == "neighbours":
                out.append(rows.median(dim=1).values[..., None])
            elif source == "nearest":
                out.append(rows[:, 0, :, None])
            elif source == "quantiles":
                assert normal is not None and normal.column_quantiles is not None
                out.append(normal.column_quantiles.t()[None].expand(a.shape[0], -1, -1))
            else:
                adapter = self.scorer.adapter
                rec = adapter.reconstruct(anomalies)
                assert rec is not None  # a source only where the adapter reconstructs
                if tuple(rec.shape) != tuple(anomalies.shape):
                    raise ValueError(
                        f"adapter: {type(adapter).__name__}.reconstruct returned shape "
                        f"{list(rec.shape)} for inputs {list(anomalies.shape)}"
                    )
                out.append(flat(rec.detach()).to(a.dtype)[..., None])
        return torch.cat(out, dim=2)

    def _scale(self, device: torch.device) -> Tensor:
        return torch.ones(1, device=device) if self.normal is None else self.normal.scale.to(device)

    def _screen(self, a: Tensor, cand: Tensor, movable: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Each of the ``screened`` features whose candidates move furthest (in normal std units, no model
        call) tried alone with every candidate, in one call: ``(value, effect, order, used)``, where
        ``value`` is each feature's best candidate, ``effect`` its excess (inf: not screened or no move)
        and ``order`` the features best-screened first."""
        b, n = a.shape
        c = cand.shape[2]
        scale = self._scale(a.device)
        move = ((cand - a[..., None]).abs() * scale[..., None]).amax(dim=2).masked_fill(~movable, -1.0)
        s = min(n, self.screened)
        picked = torch.sort(move, dim=1, descending=True, stable=True).indices[:, :s]  # [B, S]
        variants = a[:, None, None, :].expand(b, s, c, n).clone()
        options = torch.gather(cand, 1, picked[..., None].expand(b, s, c))
        variants.scatter_(3, picked[:, :, None, None].expand(b, s, c, 1), options[..., None])
        found = self.scorer.evaluate(variants.reshape(-1, n), a.repeat_interleave(s * c, dim=0))
        best_c = lexargmin(found.excess.reshape(b, s, c), found.penalty.reshape(b, s, c))
        excess = torch.gather(found.excess.reshape(b, s, c), 2, best_c[..., None])[..., 0]
        value = a.clone()  # [B, N]: each screened feature's best candidate
        value.scatter_(1, picked, torch.gather(options, 2, best_c[..., None])[..., 0])
        effect = torch.full_like(a, INF).scatter_(1, picked, excess.to(a.dtype))
        effect = effect.masked_fill(~movable | (value == a), INF)
        # A cause first: the largest move in normal std units (the greedy phase skips features with no
        # feasible move). The move names the cause; on a forest, moving a normal feature towards a
        # denser region lowers the score as much as fixing the cause.
        # A feature that never varies on normal rows and differs here moves infinitely far.
        move = (value - a).abs() * scale
        if self.normal is not None:
            constant = (self.normal.inv_std.to(a.device) == 0) & (value != a)
            move = move.masked_fill(constant, INF)
        order = torch.sort(move, dim=1, descending=True, stable=True).indices
        return value, effect, order, torch.full((b,), s * c, dtype=torch.int64, device=a.device)

    def _greedy(self, a: Tensor, value: Tensor, effect: Tensor, order: Tensor, steps: Tensor) -> tuple[Tensor, Tensor]:
        """Up to K rounds from the anomaly made feasible (e.g. clamped into a box): each tries the
        ``width`` first free features (largest move first) on the current reference and keeps the best.
        The budget is filled as the gradient search's residual start fills it (a row stops early only
        when it meets the target at the anomaly, or has no feature left): pruning then undoes every
        change the target does not need. Returns the references and the features in the order added."""
        b, n = a.shape
        usable = torch.gather(torch.isfinite(effect), 1, order)
        start = self.scorer.evaluate(a, a)
        ref = start.refs
        chosen = torch.zeros(b, n, dtype=torch.bool, device=a.device)
        added = torch.full((b, self.k), -1, dtype=torch.int64, device=a.device)
        steps += 1
        live = (~start.done).nonzero().flatten()
        for round_ in range(self.k):
            if live.numel() == 0:
                break
            free = usable[live] & ~torch.gather(chosen[live], 1, order[live])
            pick = free & (torch.cumsum(free.long(), dim=1) <= self.settings.width)
            has = pick.any(dim=1)
            live, pick = live[has], pick[has]
            if live.numel() == 0:
                break
            slot, valid, count = true_columns(pick)
            w = slot.shape[1]
            feat = torch.gather(order[live], 1, slot)  # [L, w]
            trial = one_change_trials(ref[live], feat, torch.gather(value[live], 1, feat))
            found = self.scorer.evaluate(trial.reshape(-1, n), a[live].repeat_interleave(w, dim=0))
            steps[live] += count
            exc_t = found.excess.reshape(-1, w).masked_fill(~valid, INF)
            best = lexargmin(exc_t, found.penalty.reshape(-1, w))
            rows = torch.arange(live.numel(), device=a.device)
            take = torch.isfinite(exc_t[rows, best])
            sel = live[take]
            ref[sel] = found.refs.reshape(-1, w, n)[rows, best][take]
            chosen[sel, feat[rows, best][take]] = True
            added[sel, round_] = feat[rows, best][take]
            live = live[take]
        return ref, added

    def _brackets(self, cand: Tensor) -> tuple[Tensor, Tensor]:
        """Per alert and feature, the golden-section bracket: its candidates and the normal range."""
        low, high = cand.amin(dim=2), cand.amax(dim=2)
        if self.normal is not None:
            low = torch.minimum(low, self.normal.range_low.to(cand.device))
            high = torch.maximum(high, self.normal.range_high.to(cand.device))
        return low, high

    @torch.no_grad()
    def run(self, anomalies: Tensor) -> tuple[Tensor, Tensor]:
        """References (shaped like ``anomalies``) and candidates scored per alert, through every phase."""
        a = flat(anomalies)
        settings, scorer = self.settings, self.scorer
        movable = changeable_mask(list(scorer.constraints), anomalies)
        cand = self.values(anomalies)  # [B, N, C]
        value, effect, order, steps = self._screen(a, cand, movable)
        ref, added = self._greedy(a, value, effect, order, steps)
        low, high = self._brackets(cand)
        if settings.refine_steps:
            ref, used = later.refine(scorer, ref, a, added, low, high, settings.refine_steps, self.reconstructs)
            steps += used
        screened_ok = torch.isfinite(effect)
        for _ in range(settings.swaps):
            ref, added, used, swapped = later.swap(scorer, ref, a, added, value, screened_ok)
            steps += used
            if not swapped:
                break
            if settings.refine_steps:
                ref, used = later.refine(scorer, ref, a, added, low, high, settings.refine_steps, self.reconstructs)
                steps += used
        if settings.prune:
            ref, used = later.prune(scorer, ref, a, settings.keep_share)
            steps += used
        if settings.line_steps:
            ref, used = later.line_search(scorer, ref, a, settings.line_steps)
            steps += used
        return ref.reshape(anomalies.shape), steps
