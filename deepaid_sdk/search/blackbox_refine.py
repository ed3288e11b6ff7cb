"""The later phases of the blackbox search, for a chunk of alerts after the greedy support is chosen:
refinement of the values (reconstruction walk, golden-section search), exchanges of features,
pruning and the line search. Each function returns the new references and the candidates it
scored per row (its ``steps``)."""

from __future__ import annotations

import torch
from torch import Tensor

from deepaid_sdk.search.blackbox_scoring import INF, BlackboxScorer, flat, one_change_trials
from deepaid_sdk.search.ranking import prune_and_rank, true_columns

#: Fixed-point steps of the reconstruction on the support (alerts the detector still flags only).
RECONSTRUCT_STEPS = 5
#: Coordinate sweeps of the golden-section refinement over the chosen features.
REFINE_SWEEPS = 2
_INV_PHI = (5**0.5 - 1) / 2


def refine(
    scorer: BlackboxScorer,
    ref: Tensor,
    a: Tensor,
    added: Tensor,
    low: Tensor,
    high: Tensor,
    refine_steps: int,
    reconstructs: bool,
) -> tuple[Tensor, Tensor]:
    """Rows still flagged: golden-section search of the chosen features' values, all at once per step.

    The bracket of a feature is ``[low, high]`` (``[B, N]``: its candidates and the normal rows'
    0.5%-99.5% range); the point kept is the lowest score seen, the current value included (never worse).
    """
    steps = torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
    found = scorer.evaluate(ref, a)
    steps += 1
    rows = scorer.flagged(found).nonzero().flatten()
    if rows.numel() == 0:
        return ref, steps
    ref, score = ref.clone(), found.score.clone()
    if reconstructs:
        ref, score, used = reconstruct_support(scorer, ref, a, rows, score)
        steps += used
    for _ in range(REFINE_SWEEPS):
        if not _sweep(scorer, ref, a, added, low, high, refine_steps, rows, score, steps):
            break
    return ref, steps


def _golden(
    scorer: BlackboxScorer, base: Tensor, a: Tensor, feat: Tensor, lo: Tensor, hi: Tensor, refine_steps: int
) -> tuple[Tensor, Tensor]:
    """Per (row, feature) pair: the best value of that feature in ``[lo, hi]`` and its score, by a
    golden-section search with the row's other features as in ``base``; one model call per step."""
    base_changes = (base != a).sum(dim=1)
    pairs = torch.arange(base.shape[0], device=a.device)

    def trial(v: Tensor) -> Tensor:
        t = base.clone()
        t[pairs, feat] = v
        found = scorer.evaluate(t, a)
        bad = ((found.refs != a).sum(dim=1) > base_changes) | ~torch.isfinite(found.score)
        return found.score.masked_fill(bad, INF)

    x1, x2 = hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo)
    f1, f2 = trial(x1), trial(x2)
    best_v, best_f = torch.where(f1 <= f2, x1, x2), torch.minimum(f1, f2)
    for _ in range(refine_steps):
        left = f1 <= f2  # the minimum lies in [lo, x2]
        hi, lo = torch.where(left, x2, hi), torch.where(left, lo, x1)
        new = torch.where(left, hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo))
        f_new = trial(new)
        x2, f2, x1, f1 = (
            torch.where(left, x1, new),
            torch.where(left, f1, f_new),
            torch.where(left, new, x2),
            torch.where(left, f_new, f2),
        )
        better = f_new < best_f
        best_v, best_f = torch.where(better, new, best_v), torch.where(better, f_new, best_f)
    return best_v, best_f


def _sweep(
    scorer: BlackboxScorer,
    ref: Tensor,
    a: Tensor,
    added: Tensor,
    low: Tensor,
    high: Tensor,
    refine_steps: int,
    rows: Tensor,
    score: Tensor,
    steps: Tensor,
) -> bool:
    """One sweep over every (row, chosen feature) pair, writing ``ref``, ``score`` and ``steps`` in place;
    False when no row has a chosen feature."""
    slot_ok = added[rows] >= 0
    pair_row = rows[:, None].expand_as(slot_ok)[slot_ok]
    feat = added[rows][slot_ok]
    if pair_row.numel() == 0:
        return False
    pairs = torch.arange(pair_row.numel(), device=a.device)
    best_v, best_f = _golden(
        scorer,
        ref[pair_row],
        a[pair_row],
        feat,
        low[pair_row, feat].clone(),
        high[pair_row, feat].clone(),
        refine_steps,
    )
    steps.index_add_(0, pair_row, torch.full_like(pair_row, refine_steps + 2))
    # Take every improving feature at once; where that joint move scores worse than the
    # row's best single move, take that single move alone.
    improve = best_f < score[pair_row]
    joint = ref[rows].clone()
    position = torch.searchsorted(rows, pair_row)
    joint[position[improve], feat[improve]] = best_v[improve]
    moved = scorer.evaluate(joint, a[rows])
    joint, joint_score = moved.refs, moved.score
    steps[rows] += 1
    single_f = torch.full_like(score[rows], INF).scatter_reduce(0, position, best_f, "amin")
    single = ref[rows].clone()
    pick = best_f == single_f[position]
    first = torch.full_like(position, -1).scatter_reduce(
        0, position, torch.where(pick, pairs, torch.full_like(pairs, pairs.numel())), "amin", include_self=False
    )
    has = (first >= 0) & (first < pairs.numel())
    single[has.nonzero().flatten(), feat[first[has]]] = best_v[first[has]]
    use_joint = joint_score <= single_f
    chosen_ref = torch.where(use_joint[:, None], joint, single)
    chosen_score = torch.where(use_joint, joint_score, single_f)
    keep = chosen_score < score[rows]
    sel = rows[keep]
    if sel.numel():
        ref[sel] = scorer.project(chosen_ref[keep], a[sel])
        score[sel] = chosen_score[keep]
    return True


def swap(
    scorer: BlackboxScorer, ref: Tensor, a: Tensor, added: Tensor, value: Tensor, screened: Tensor
) -> tuple[Tensor, Tensor, Tensor, bool]:
    """Rows still flagged: exchange the least useful chosen feature for the best unchosen one.

    Screening measured each feature at the anomaly; here both sides are measured at the
    reference (undo each chosen change; add each screened one), so a feature whose effect
    the others masked can come in. A swap is kept where it lowers the score.
    """
    b, n = a.shape
    steps = torch.zeros(b, dtype=torch.int64, device=a.device)
    found = scorer.evaluate(ref, a)
    steps += 1
    rows = (scorer.flagged(found) & (ref != a).any(dim=1)).nonzero().flatten()
    if rows.numel() == 0:
        return ref, added, steps, False
    r_ref, r_a = ref[rows], a[rows]
    chosen = r_ref != r_a
    variants = []
    for pool, source in ((screened[rows] & ~chosen, value[rows]), (chosen, r_a)):
        index, valid, _ = true_columns(pool, minimum=1)
        trial = one_change_trials(r_ref, index, torch.gather(source, 1, index))
        variants.append((trial, index, valid, index.shape[1]))
    trials = torch.cat([v[0].reshape(-1, n) for v in variants])
    anoms = torch.cat([r_a.repeat_interleave(v[3], dim=0) for v in variants])
    score_t = scorer.evaluate(trials, anoms).score
    steps[rows] += variants[0][2].sum(dim=1) + variants[1][2].sum(dim=1)
    split = rows.numel() * variants[0][3]
    add_s = score_t[:split].reshape(rows.numel(), -1).masked_fill(~variants[0][2], INF)
    undo_s = score_t[split:].reshape(rows.numel(), -1).masked_fill(~variants[1][2], INF)
    best_add = torch.gather(variants[0][1], 1, add_s.argmin(dim=1, keepdim=True))[:, 0]
    worst = torch.gather(variants[1][1], 1, undo_s.argmin(dim=1, keepdim=True))[:, 0]
    possible = torch.isfinite(add_s.min(dim=1).values) & torch.isfinite(undo_s.min(dim=1).values)
    idx = torch.arange(rows.numel(), device=a.device)
    trial = r_ref.clone()
    trial[idx, worst] = r_a[idx, worst]
    trial[idx, best_add] = value[rows, best_add]
    swapped = scorer.evaluate(trial, r_a)
    steps[rows] += 1
    # Feasible only (a projection can leave a constraint broken, e.g. an emptied one-hot group).
    accept = (
        possible
        & torch.isfinite(swapped.excess)
        & (swapped.score < found.score[rows])
        & ((swapped.refs != r_a).sum(dim=1) <= chosen.sum(dim=1))
    )
    if not bool(accept.any()):
        return ref, added, steps, False
    ref, added = ref.clone(), added.clone()
    sel = rows[accept]
    ref[sel] = swapped.refs[accept]
    slot = added[sel] == worst[accept][:, None]
    added[sel] = torch.where(slot, best_add[accept][:, None], added[sel])
    return ref, added, steps, True


def reconstruct_support(
    scorer: BlackboxScorer, ref: Tensor, a: Tensor, rows: Tensor, score: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
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
        rebuilt = scorer.adapter.reconstruct(current.reshape(-1, *scorer.shape))
        assert rebuilt is not None  # only called where the adapter reconstructs
        rec = flat(rebuilt.detach()).to(a.dtype)
        current = torch.where(support, rec, a[rows])
        found = scorer.evaluate(current, a[rows])
        current = found.refs
        better = (found.score < best_score) & ((found.refs != a[rows]) == support).all(dim=1)
        best[better], best_score[better] = found.refs[better], found.score[better]
    steps[rows] += RECONSTRUCT_STEPS
    ref[rows], score[rows] = best, best_score
    return ref, score, steps


def prune(scorer: BlackboxScorer, ref: Tensor, a: Tensor, keep_share: float | None) -> tuple[Tensor, Tensor]:
    """Undo the changes a reference does not need: the rule every search shares
    (``deepaid_sdk.search.ranking.prune_and_rank``): a change is undone only when the reference still
    meets the target without it (its own score, where it misses the target), never one whose undo
    raises the score by ``keep_share`` of the row's largest rise. Returns the references and the
    candidates scored per row (its own score, one undo per change, one prefix check per undo)."""
    b, n = a.shape
    changes = (ref != a).sum(dim=1)
    shaped = (b, *scorer.shape)
    pruned, _ = prune_and_rank(
        scorer.adapter,
        scorer.constraints,
        a.reshape(shaped),
        ref.reshape(shaped),
        scorer.target,
        keep_share=keep_share,
    )
    return flat(pruned), 1 + 2 * changes


def line_search(scorer: BlackboxScorer, ref: Tensor, a: Tensor, line_steps: int) -> tuple[Tensor, Tensor]:
    """Per row that meets the target: the smallest scale t in (0, 1] of its change that still does."""
    steps = torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
    steps += 1
    rows = scorer.evaluate(ref, a).done.nonzero().flatten()
    if rows.numel() == 0:
        return ref, steps
    delta = ref[rows] - a[rows]
    support = delta != 0
    lo = torch.zeros(rows.numel(), 1, dtype=a.dtype, device=a.device)
    hi = torch.ones_like(lo)
    best = ref[rows].clone()
    for _ in range(line_steps):
        mid = (lo + hi) / 2
        trial = torch.where(support, a[rows] + mid * delta, a[rows])
        found = scorer.evaluate(trial, a[rows])
        # A projection may undo a change (integer rounding): keep the support as it was.
        ok = found.done & ((found.refs != a[rows]) == support).all(dim=1)
        best[ok] = found.refs[ok]
        hi = torch.where(ok[:, None], mid, hi)
        lo = torch.where(ok[:, None], lo, mid)
    steps[rows] += line_steps
    ref = ref.clone()
    ref[rows] = best
    return ref, steps
