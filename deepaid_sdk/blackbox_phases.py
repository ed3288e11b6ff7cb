"""The phases of the blackbox search on one chunk of alerts (see ``deepaid_sdk.blackbox``).

Candidates, screening, greedy support, refinement and exchanges, pruning and the line search,
each batched over the chunk's live alerts: one call to ``adapter.score`` per round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from deepaid_sdk.adapters import ModelAdapter
from deepaid_sdk.constraints import Constraint, changeable_mask, project_all
from deepaid_sdk.search import true_columns

if TYPE_CHECKING:
    from deepaid_sdk.blackbox import BlackboxSearch

_INF = float("inf")
#: Fixed-point steps of the reconstruction on the support (alerts the detector still flags only).
RECONSTRUCT_STEPS = 5
#: Coordinate sweeps of the golden-section refinement over the chosen features.
REFINE_SWEEPS = 2


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _lexargmin(primary: Tensor, secondary: Tensor) -> Tensor:
    """Index along the last dim of the smallest ``primary``, ties broken by the smallest ``secondary``."""
    tied = primary == primary.min(dim=-1, keepdim=True).values
    return torch.where(tied, secondary.to(primary.dtype), torch.full_like(primary, _INF)).argmin(dim=-1)



class BlackboxRun:
    """One search's fixed inputs (model, constraints, target, normal data) and its phases on a chunk of alerts."""

    def __init__(self, adapter: ModelAdapter, constraints: list[Constraint], target: float, k: int,
                 normal: Tensor | None, reconstructs: bool, search: BlackboxSearch) -> None:
        self.adapter, self.constraints, self.target, self.k = adapter, constraints, target, k
        self.normal, self.reconstructs, self.search = normal, reconstructs, search
        sources = [v for v in search.values if v != "reconstruction" or reconstructs]
        if normal is None:
            sources = [v for v in sources if v == "reconstruction"]
        self.sources = sources
        self.candidates = sum(len(search.quantiles) if s == "quantiles" else 1 for s in sources)
        self.screened = max(search.screen, 3 * k)
        self.scale = torch.ones(1)
        if normal is not None:
            flat = _flat(normal)
            self.mean = flat.mean(dim=0)
            std = flat.std(dim=0) if flat.shape[0] > 1 else torch.ones_like(self.mean)
            self.inv_std = torch.where(std > 0, 1.0 / std, torch.zeros_like(std))
            self.z_normal = (flat - self.mean) * self.inv_std
            self.scale = torch.where(std > 0, 1.0 / std, torch.ones_like(std))
            ends = torch.tensor([0.005, 0.995], dtype=torch.float64, device=flat.device)
            self.range_low, self.range_high = torch.quantile(flat.double(), ends, dim=0).to(flat.dtype)
            if "quantiles" in sources:
                q = torch.tensor(search.quantiles, dtype=torch.float64, device=flat.device)
                self.column_quantiles = torch.quantile(flat.double(), q, dim=0).to(flat.dtype)  # [Q, N]

    # -- candidate values -----------------------------------------------------------------------

    @torch.no_grad()
    def values(self, anomalies: Tensor) -> Tensor:
        """``[B, N, C]`` candidate values per alert and feature."""
        a = _flat(anomalies)
        out = []
        if self.normal is not None and ({"neighbours", "nearest"} & set(self.sources)):
            z = (a - self.mean) * self.inv_std
            # Exact pairwise differences, not the matmul shortcut: a row's neighbours never depend
            # on how many rows share the call (BLAS blocking changes the rounding).
            d = torch.cdist(z, self.z_normal, compute_mode="donot_use_mm_for_euclid_dist")
            m = min(self.search.neighbours, self.z_normal.shape[0])
            near = d.topk(m, dim=1, largest=False).indices  # [B, m], nearest first (ties: lower index)
            rows = _flat(self.normal)[near]  # [B, m, N]
        for source in self.sources:
            if source == "neighbours":
                out.append(rows.median(dim=1).values[..., None])
            elif source == "nearest":
                out.append(rows[:, 0, :, None])
            elif source == "quantiles":
                out.append(self.column_quantiles.t()[None].expand(a.shape[0], -1, -1))
            else:
                rec = self.adapter.reconstruct(anomalies)
                if tuple(rec.shape) != tuple(anomalies.shape):
                    raise ValueError(f"adapter: {type(self.adapter).__name__}.reconstruct returned shape "
                                     f"{list(rec.shape)} for inputs {list(anomalies.shape)}")
                out.append(_flat(rec.detach()).to(a.dtype)[..., None])
        return torch.cat(out, dim=2)

    # -- scoring ----------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, variants: Tensor, anomalies: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Project ``[R, N]`` variants of ``[R, N]`` anomalies: references, excess, penalty, score, done.

        ``excess`` is ``relu(score - target)``, infinite where a constraint fails; ``penalty`` the
        soft constraints' sum. Choices are lexicographic: excess first, then penalty, so a
        distance penalty only decides between references equally far from the target.
        """
        shape = self.shape
        refs = _flat(project_all(self.constraints, variants.reshape(-1, *shape), anomalies.reshape(-1, *shape)))
        score = torch.cat([self.adapter.score(p.reshape(-1, *shape)) for p in refs.split(self.rows_per_call)]) \
            if refs.shape[0] else refs.new_zeros(0)
        score = score.to(refs.dtype)
        excess = torch.relu(score - self.target)
        penalty = torch.zeros_like(score)
        feasible = torch.ones_like(score, dtype=torch.bool)
        for c in self.constraints:
            extra, ok = c.evaluate(refs.reshape(-1, *shape), anomalies.reshape(-1, *shape))
            penalty = penalty + extra.to(penalty.dtype)
            feasible &= ok
        excess = torch.where(feasible & torch.isfinite(score), excess, torch.full_like(excess, _INF))
        done = feasible & (score <= self.target)
        return refs, excess, penalty, score, done

    # -- the phases on one chunk of alerts ------------------------------------------------------------

    @torch.no_grad()
    def run(self, anomalies: Tensor) -> tuple[Tensor, Tensor]:
        self.shape = tuple(anomalies.shape[1:])
        a = _flat(anomalies)
        b, n = a.shape
        self.rows_per_call = max(1, self.search.chunk // max(1, n))
        movable = changeable_mask(self.constraints, anomalies)
        steps = torch.zeros(b, dtype=torch.int64, device=a.device)
        cand = self.values(anomalies)  # [B, N, C]
        c = cand.shape[2]
        # Pre-selection without model calls: the features whose candidates move furthest in
        # normal std units (how unusual the alert is there), at most ``screen`` of them.
        move = ((cand - a[..., None]).abs() * self.scale.to(a.device)[..., None]).amax(dim=2).masked_fill(~movable, -1.0)
        s = min(n, self.screened)
        picked = torch.sort(move, dim=1, descending=True, stable=True).indices[:, :s]  # [B, S]
        # Screening: each (picked feature, candidate) alone, in one call for the chunk.
        variants = a[:, None, None, :].expand(b, s, c, n).clone()
        variants.scatter_(3, picked[:, :, None, None].expand(b, s, c, 1),
                          torch.gather(cand, 1, picked[..., None].expand(b, s, c))[..., None])
        _, excess, penalty, _, _ = self.evaluate(variants.reshape(-1, n), a.repeat_interleave(s * c, dim=0))
        steps += s * c
        best_c = _lexargmin(excess.reshape(b, s, c), penalty.reshape(b, s, c))
        excess = torch.gather(excess.reshape(b, s, c), 2, best_c[..., None])[..., 0]
        value = a.clone()  # [B, N]: each screened feature's best candidate
        value.scatter_(1, picked, torch.gather(torch.gather(cand, 1, picked[..., None].expand(b, s, c)), 2,
                                               best_c[..., None])[..., 0])
        effect = torch.full_like(a, _INF).scatter_(1, picked, excess.to(a.dtype))
        effect = effect.masked_fill(~movable | (value == a), _INF)
        # Best-screened first; on ties (a plateau of the score) the larger move in normal std units.
        order = torch.sort((value - a).abs() * self.scale.to(a.device), dim=1, descending=True, stable=True).indices
        order = torch.gather(order, 1, torch.sort(torch.gather(effect, 1, order), dim=1, stable=True).indices)
        usable = torch.gather(torch.isfinite(effect), 1, order)
        # Greedy support, from the anomaly made feasible (e.g. clamped into a box).
        ref, _, _, _, done = self.evaluate(a, a)
        chosen = torch.zeros(b, n, dtype=torch.bool, device=a.device)
        added = torch.full((b, self.k), -1, dtype=torch.int64, device=a.device)  # features in greedy order
        steps += 1
        live = (~done).nonzero().flatten()
        for round_ in range(self.k):
            if live.numel() == 0:
                break
            free = usable[live] & ~torch.gather(chosen[live], 1, order[live])
            rank = torch.cumsum(free.long(), dim=1)
            pick = free & (rank <= self.search.width)  # the width best-screened free features
            has = pick.any(dim=1)
            live, pick = live[has], pick[has]
            if live.numel() == 0:
                break
            slot, valid, count = true_columns(pick)
            w = slot.shape[1]
            feat = torch.gather(order[live], 1, slot)  # [L, w]
            trial = _one_change_trials(ref[live], feat, torch.gather(value[live], 1, feat))
            refs_t, exc_t, pen_t, _, done_t = self.evaluate(trial.reshape(-1, n), a[live].repeat_interleave(w, dim=0))
            steps[live] += count
            exc_t = exc_t.reshape(-1, w).masked_fill(~valid, _INF)
            best = _lexargmin(exc_t, pen_t.reshape(-1, w))
            rows = torch.arange(live.numel(), device=a.device)
            take = torch.isfinite(exc_t[rows, best])
            sel = live[take]
            ref[sel] = refs_t.reshape(-1, w, n)[rows, best][take]
            chosen[sel, feat[rows, best][take]] = True
            added[sel, round_] = feat[rows, best][take]
            finished = done_t.reshape(-1, w)[rows, best] & take
            live = live[~finished & take]
        if self.search.refine_steps:
            ref, used = self._refine(ref, a, added, cand)
            steps += used
        screened_ok = torch.isfinite(effect)
        for _ in range(self.search.swaps):
            ref, added, used, swapped = self._swap(ref, a, added, value, screened_ok)
            steps += used
            if not swapped:
                break
            if self.search.refine_steps:
                ref, used = self._refine(ref, a, added, cand)
                steps += used
        if self.search.prune:
            ref, used = self._prune(ref, a)
            steps += used
        if self.search.line_steps:
            ref, used = self._line_search(ref, a)
            steps += used
        return ref.reshape(anomalies.shape), steps

    def _refine(self, ref: Tensor, a: Tensor, added: Tensor, cand: Tensor) -> tuple[Tensor, Tensor]:
        """Rows still flagged: golden-section search of the chosen features' values, all at once per step.

        The bracket of a feature spans its candidates and the normal rows' 0.5%-99.5% range; the
        point kept is the lowest score seen, the current value included (never worse).
        """
        b, n = a.shape
        steps = torch.zeros(b, dtype=torch.int64, device=a.device)
        _, excess, _, score, _ = self.evaluate(ref, a)
        steps += 1
        rows = self._not_normal(excess, score).nonzero().flatten()
        if rows.numel() == 0:
            return ref, steps
        ref, score = ref.clone(), score.clone()
        if self.reconstructs:
            ref, score, used = self._reconstruct_support(ref, a, rows, score)
            steps += used
        lo_all, hi_all = cand.amin(dim=2), cand.amax(dim=2)
        if self.normal is not None:
            lo_all = torch.minimum(lo_all, self.range_low.to(a.device))
            hi_all = torch.maximum(hi_all, self.range_high.to(a.device))
        inv_phi = (5 ** 0.5 - 1) / 2
        for _ in range(REFINE_SWEEPS):
            # Every (row, chosen feature) pair at once: a golden-section search of that feature's
            # value with the row's other features as they are; one model call per step.
            slot_ok = added[rows] >= 0
            pair_row = rows[:, None].expand_as(slot_ok)[slot_ok]
            feat = added[rows][slot_ok]
            if pair_row.numel() == 0:
                break
            lo, hi = lo_all[pair_row, feat].clone(), hi_all[pair_row, feat].clone()
            base = ref[pair_row]
            base_changes = (base != a[pair_row]).sum(dim=1)
            pairs = torch.arange(pair_row.numel(), device=a.device)

            def trial(v: Tensor) -> Tensor:
                t = base.clone()
                t[pairs, feat] = v
                refs_t, _, _, score_t, _ = self.evaluate(t, a[pair_row])
                bad = ((refs_t != a[pair_row]).sum(dim=1) > base_changes) | ~torch.isfinite(score_t)
                return score_t.masked_fill(bad, _INF)

            x1, x2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
            f1, f2 = trial(x1), trial(x2)
            best_v, best_f = torch.where(f1 <= f2, x1, x2), torch.minimum(f1, f2)
            for _ in range(self.search.refine_steps):
                left = f1 <= f2  # the minimum lies in [lo, x2]
                hi, lo = torch.where(left, x2, hi), torch.where(left, lo, x1)
                new = torch.where(left, hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo))
                f_new = trial(new)
                x2, f2, x1, f1 = (torch.where(left, x1, new),
                                  torch.where(left, f1, f_new),
                                  torch.where(left, new, x2), torch.where(left, f_new, f2))
                better = f_new < best_f
                best_v, best_f = torch.where(better, new, best_v), torch.where(better, f_new, best_f)
            steps.index_add_(0, pair_row, torch.full_like(pair_row, self.search.refine_steps + 2))
            # Take every improving feature at once; where that joint move scores worse than the
            # row's best single move, take that single move alone.
            improve = best_f < score[pair_row]
            joint = ref[rows].clone()
            position = torch.searchsorted(rows, pair_row)
            joint[position[improve], feat[improve]] = best_v[improve]
            joint, _, _, joint_score, _ = self.evaluate(joint, a[rows])
            steps[rows] += 1
            single_f = torch.full_like(score[rows], _INF).scatter_reduce(0, position, best_f, "amin")
            single = ref[rows].clone()
            pick = best_f == single_f[position]
            first = torch.full_like(position, -1).scatter_reduce(0, position, torch.where(
                pick, pairs, torch.full_like(pairs, pairs.numel())), "amin", include_self=False)
            has = (first >= 0) & (first < pairs.numel())
            single[has.nonzero().flatten(), feat[first[has]]] = best_v[first[has]]
            use_joint = joint_score <= single_f
            chosen_ref = torch.where(use_joint[:, None], joint, single)
            chosen_score = torch.where(use_joint, joint_score, single_f)
            keep = chosen_score < score[rows]
            sel = rows[keep]
            if sel.numel():
                ref[sel] = project_all(self.constraints, chosen_ref[keep].reshape(-1, *self.shape),
                                       a[sel].reshape(-1, *self.shape)).reshape(sel.numel(), n)
                score[sel] = chosen_score[keep]
        return ref, steps

    def _not_normal(self, excess: Tensor, score: Tensor) -> Tensor:
        """Rows the detector still alerts on (or that break a constraint): the only ones refined."""
        return ~torch.isfinite(excess) | (score > self.bound)

    def _swap(self, ref: Tensor, a: Tensor, added: Tensor, value: Tensor,
              screened: Tensor) -> tuple[Tensor, Tensor, Tensor, bool]:
        """Rows still flagged: exchange the least useful chosen feature for the best unchosen one.

        Screening measured each feature at the anomaly; here both sides are measured at the
        reference (undo each chosen change; add each screened one), so a feature whose effect
        the others masked can come in. A swap is kept where it lowers the score.
        """
        b, n = a.shape
        steps = torch.zeros(b, dtype=torch.int64, device=a.device)
        _, excess, _, score, _ = self.evaluate(ref, a)
        steps += 1
        rows = (self._not_normal(excess, score) & (ref != a).any(dim=1)).nonzero().flatten()
        if rows.numel() == 0:
            return ref, added, steps, False
        r_ref, r_a = ref[rows], a[rows]
        chosen = r_ref != r_a
        variants = []
        for pool, source in ((screened[rows] & ~chosen, value[rows]), (chosen, r_a)):
            index, valid, _ = true_columns(pool, minimum=1)
            trial = _one_change_trials(r_ref, index, torch.gather(source, 1, index))
            variants.append((trial, index, valid, index.shape[1]))
        trials = torch.cat([v[0].reshape(-1, n) for v in variants])
        anoms = torch.cat([r_a.repeat_interleave(v[3], dim=0) for v in variants])
        _, _, _, score_t, _ = self.evaluate(trials, anoms)
        steps[rows] += variants[0][2].sum(dim=1) + variants[1][2].sum(dim=1)
        split = rows.numel() * variants[0][3]
        add_s = score_t[:split].reshape(rows.numel(), -1).masked_fill(~variants[0][2], _INF)
        undo_s = score_t[split:].reshape(rows.numel(), -1).masked_fill(~variants[1][2], _INF)
        best_add = torch.gather(variants[0][1], 1, add_s.argmin(dim=1, keepdim=True))[:, 0]
        worst = torch.gather(variants[1][1], 1, undo_s.argmin(dim=1, keepdim=True))[:, 0]
        possible = torch.isfinite(add_s.min(dim=1).values) & torch.isfinite(undo_s.min(dim=1).values)
        idx = torch.arange(rows.numel(), device=a.device)
        trial = r_ref.clone()
        trial[idx, worst] = r_a[idx, worst]
        trial[idx, best_add] = value[rows, best_add]
        refs_t, _, _, score_s, _ = self.evaluate(trial, r_a)
        steps[rows] += 1
        accept = possible & (score_s < score[rows]) & ((refs_t != r_a).sum(dim=1) <= chosen.sum(dim=1))
        if not bool(accept.any()):
            return ref, added, steps, False
        ref, added = ref.clone(), added.clone()
        sel = rows[accept]
        ref[sel] = refs_t[accept]
        slot = (added[sel] == worst[accept][:, None])
        added[sel] = torch.where(slot, best_add[accept][:, None], added[sel])
        return ref, added, steps, True

    def _reconstruct_support(self, ref: Tensor, a: Tensor, rows: Tensor, score: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Set the changed features to the reconstruction of the reference itself, a few times.

        A fixed-point walk towards what the detector finds normal on the chosen support: the
        anomaly's reconstruction is pulled by its own anomalous features, the reference's less.
        Each row keeps its lowest-score point.
        """
        steps = torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
        support = ref[rows] != a[rows]
        current = ref[rows].clone()
        best, best_score = current.clone(), score[rows].clone()
        for _ in range(RECONSTRUCT_STEPS):
            rec = _flat(self.adapter.reconstruct(current.reshape(-1, *self.shape)).detach()).to(a.dtype)
            current = torch.where(support, rec, a[rows])
            refs_t, _, _, score_t, _ = self.evaluate(current, a[rows])
            current = refs_t
            better = (score_t < best_score) & ((refs_t != a[rows]) == support).all(dim=1)
            best[better], best_score[better] = refs_t[better], score_t[better]
        steps[rows] += RECONSTRUCT_STEPS
        ref[rows], score[rows] = best, best_score
        return ref, score, steps

    def _prune(self, ref: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        """Undo, one per row per round, the change whose undo leaves the lowest score, while done."""
        b, n = a.shape
        steps = torch.zeros(b, dtype=torch.int64, device=a.device)
        _, _, _, _, done = self.evaluate(ref, a)
        steps += 1
        live = done.nonzero().flatten()
        while live.numel():
            changed = ref[live] != a[live]
            count = changed.sum(dim=1)
            keep = count > 1
            live, changed, count = live[keep], changed[keep], count[keep]
            if live.numel() == 0:
                break
            index, valid, _ = true_columns(changed)
            m = index.shape[1]
            trial = _one_change_trials(ref[live], index, torch.gather(a[live], 1, index))
            refs_t, _, _, score_t, done_t = self.evaluate(trial.reshape(-1, n), a[live].repeat_interleave(m, dim=0))
            steps[live] += count
            # Projection can put an undone change back (a value outside a box): only real undos count.
            fewer = (refs_t != a[live].repeat_interleave(m, dim=0)).sum(dim=1).reshape(-1, m) < count[:, None]
            ok = done_t.reshape(-1, m) & valid & fewer
            best = score_t.reshape(-1, m).masked_fill(~ok, _INF).argmin(dim=1)
            rows = torch.arange(live.numel(), device=a.device)
            accept = ok[rows, best]
            ref[live[accept]] = refs_t.reshape(-1, m, n)[rows, best][accept]
            live = live[accept]
        return ref, steps

    def _line_search(self, ref: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        """Per row that meets the target: the smallest scale t in (0, 1] of its change that still does."""
        b, n = a.shape
        steps = torch.zeros(b, dtype=torch.int64, device=a.device)
        _, _, _, _, done = self.evaluate(ref, a)
        steps += 1
        rows = done.nonzero().flatten()
        if rows.numel() == 0:
            return ref, steps
        delta = ref[rows] - a[rows]
        support = delta != 0
        lo = torch.zeros(rows.numel(), 1, dtype=a.dtype, device=a.device)
        hi = torch.ones_like(lo)
        best = ref[rows].clone()
        for _ in range(self.search.line_steps):
            mid = (lo + hi) / 2
            trial = torch.where(support, a[rows] + mid * delta, a[rows])
            refs_t, _, _, _, done_t = self.evaluate(trial, a[rows])
            # A projection may undo a change (integer rounding): keep the support as it was.
            ok = done_t & ((refs_t != a[rows]) == support).all(dim=1)
            best[ok] = refs_t[ok]
            hi = torch.where(ok[:, None], mid, hi)
            lo = torch.where(ok[:, None], lo, mid)
        steps[rows] += self.search.line_steps
        ref = ref.clone()
        ref[rows] = best
        return ref, steps


def _one_change_trials(ref: Tensor, index: Tensor, values: Tensor) -> Tensor:
    """``[L, m, n]``: each row's ``ref`` with one feature changed per trial, ``index[i, j]`` set to ``values[i, j]``."""
    trial = ref[:, None, :].expand(-1, index.shape[1], -1).clone()
    trial.scatter_(2, index[..., None], values[..., None])
    return trial
