"""Which changes a reference needs, and in what order: undo scores, pruning and ranking.

Every search ends here: a change is undone only when the reference still meets its bar without it,
and the rest are ranked by how much undoing each raises the score. One model call per change slot
over all rows, so memory is bounded and no row sees another.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, FidelityConstraint, all_satisfied
from deepaid_sdk.model.adapters import SCORE_CHUNK, ModelAdapter, score_in_chunks
from deepaid_sdk.target import strict_bound


def true_columns(mask: Tensor, minimum: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Per row of ``mask [B, N]``, its true columns in column order, padded to the most any row has (at least
    ``minimum``): the indices ``[B, M]``, which of them are real ``[B, M]``, and the count per row ``[B]``."""
    counts = mask.sum(dim=1)
    width = max(minimum, int(counts.max()) if mask.numel() else 0)
    index = torch.sort(mask.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :width]
    valid = torch.arange(width, device=mask.device)[None, :] < counts[:, None]
    return index, valid, counts


def _changed_lists(changed: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, the changed flat indices padded with -1 (``[B, M]``) and their count ``[B]``."""
    order, valid, counts = true_columns(changed)
    return torch.where(valid, order, torch.full_like(order, -1)), counts


@torch.no_grad()
def undo_scores(adapter: ModelAdapter, anomalies: Tensor, references: Tensor, index: Tensor) -> Tensor:
    """``[B, M]``: the score of each reference with one change (``index[b, m]``) undone; inf on padding.

    Every variant of a block of rows goes to the model in one call (blocks of at most ``SCORE_CHUNK``
    variants, so memory stays bounded whatever the batch); no row's figure depends on the others.
    """
    b, m = index.shape
    shape = anomalies.shape[1:]
    a, r = anomalies.reshape(b, -1), references.reshape(b, -1)
    out = torch.full((b, m), float("inf"), device=a.device, dtype=torch.float64)
    block = max(1, SCORE_CHUNK // max(m, 1))
    for first in range(0, b, block):
        idx = index[first : first + block]
        row, slot = (idx >= 0).nonzero(as_tuple=True)
        if row.numel() == 0:
            continue
        col = idx[row, slot]
        variant = r[first + row].clone()
        variant[torch.arange(row.numel(), device=a.device), col] = a[first + row, col]
        out[first + row, slot] = score_in_chunks(adapter, variant.reshape(-1, *shape)).double()
    return out


def _importance_order(undone: Tensor, size: Tensor) -> Tensor:
    """Per row, slots ordered most important first: highest undo score (= rise), ties by larger change."""
    order = torch.sort(size, dim=1, descending=True, stable=True).indices
    by_rise = torch.sort(
        torch.gather(undone, 1, order).nan_to_num(posinf=-float("inf")), dim=1, descending=True, stable=True
    ).indices
    return torch.gather(order, 1, by_rise)


def _as_lists(index: Tensor, counts: Tensor, shape: tuple[int, ...]) -> list[np.ndarray]:
    """Ordered flat indices (padding dropped) as per-row arrays, multi-axis for samples of rank > 1."""
    index_np, counts_np = index.cpu().numpy(), counts.cpu().numpy()
    out = []
    for row, count in zip(index_np, counts_np):  # result assembly only, not the search
        kept = row[row >= 0][:count] if count else row[:0]
        out.append(kept.astype(np.int64) if len(shape) <= 1 else np.stack(np.unravel_index(kept, shape), axis=1))
    return out


def _ranked(index: Tensor, undone: Tensor, anomalies: Tensor, references: Tensor) -> Tensor:
    """``index`` reordered per row, most important first (see ``_importance_order``); padding last."""
    size = torch.gather((references - anomalies).abs(), 1, index.clamp_min(0)).float().masked_fill(index < 0, -1.0)
    order = _importance_order(undone.masked_fill(index < 0, -float("inf")), size)
    return torch.gather(index, 1, order)


def _mask_of(cols: Tensor, take: Tensor, width: int) -> Tensor:
    """``[R, width]`` bool, True at ``cols[r, j]`` where ``take[r, j]`` (others go to a spare column, dropped)."""
    mask = torch.zeros(cols.shape[0], width + 1, dtype=torch.bool, device=cols.device)
    mask.scatter_(1, torch.where(take, cols, width), True)
    return mask[:, :-1]


@torch.no_grad()
def rank_changes(adapter: ModelAdapter, anomalies: Tensor, references: Tensor) -> list[np.ndarray]:
    """Changed features per row, most important first.

    Importance of a change is how much the reference's score rises when that one change is
    undone (one model call per change slot, over all rows); ties fall back to the size of the
    change.
    """
    b = anomalies.shape[0]
    delta = (references - anomalies).reshape(b, -1)
    index, counts = _changed_lists(delta != 0)
    if index.shape[1] == 0:
        return _as_lists(index, counts, tuple(anomalies.shape[1:]))
    undone = undo_scores(adapter, anomalies, references, index)
    return _as_lists(
        _ranked(index, undone, anomalies.reshape(b, -1), references.reshape(b, -1)), counts, tuple(anomalies.shape[1:])
    )


def _checked(constraints: Sequence[Constraint]) -> list[Constraint]:
    """Constraints a pruned reference must keep; the score bar stands in for fidelity."""
    return [c for c in constraints if not isinstance(c, FidelityConstraint)]


@torch.no_grad()
def prune_and_rank(
    adapter: ModelAdapter,
    constraints: Sequence[Constraint],
    anomalies: Tensor,
    references: Tensor,
    bar: Tensor | float | None = None,
    *,
    prune: bool = True,
    protected: Tensor | None = None,
    keep_share: float | None = None,
) -> tuple[Tensor, list[np.ndarray]]:
    """Undo the changes a reference does not need, then rank the rest; returns ``(references, changed)``
    (``prune_rank_and_score`` says how)."""
    refs, changed, _ = prune_rank_and_score(
        adapter, constraints, anomalies, references, bar, prune=prune, protected=protected, keep_share=keep_share
    )
    return refs, changed


@torch.no_grad()
def prune_rank_and_score(
    adapter: ModelAdapter,
    constraints: Sequence[Constraint],
    anomalies: Tensor,
    references: Tensor,
    bar: Tensor | float | None = None,
    *,
    prune: bool = True,
    protected: Tensor | None = None,
    keep_share: float | None = None,
    scores: Tensor | None = None,
) -> tuple[Tensor, list[np.ndarray], Tensor]:
    """Undo the changes a reference does not need, then rank the rest; returns ``(references, changed,
    scores)``, the scores being the model's scores of the returned references ``[B]``. ``scores``: those
    of ``references`` where the caller has them (the search does): no model call for them, and only
    the rows pruning changed are scored again.

    ``bar`` is the score a reference must stay at or below (per row or one value; default: the
    threshold minus the adapter's margin). A row whose reference scores above its bar keeps its
    own score as the bar: only changes that do not help are undone there. ``protected``
    (``[B, N]`` bool, optional) marks changes that are never undone (e.g. far outside their
    feature's normal variation): they are causes whether or not the score needs them.
    ``keep_share`` protects, per row, every change whose undo raises the score by at least that
    share of the row's largest rise (measured once, on the reference as given): a change that
    matters a fifth as much as the main cause is itself a cause, even where the target has room.

    Each pass scores every single undo of every row (one model call per change slot), sorts a
    row's changes by the score its undo leaves, lowest first, and undoes the longest prefix of
    that order whose every step stays at or below the bar and keeps every other constraint. A
    pass that undoes nothing ends the row, and its undo scores are the ranking: importance is
    how much undoing a change raises the score, ties broken by the size of the change. Every
    reported change is therefore needed on its own, and rows never see each other.
    """
    shape = tuple(anomalies.shape[1:])
    b = anomalies.shape[0]
    a = anomalies.reshape(b, -1)
    refs = references.reshape(b, -1).clone()
    checked = _checked(constraints)
    if bar is None:
        bar = strict_bound(adapter)
    bars = torch.as_tensor(bar, dtype=torch.float64, device=a.device).expand(b).clone()
    own = score_in_chunks(adapter, references) if scores is None else scores.detach()
    bars_own = own.double()
    bars = torch.maximum(bars, bars_own)
    lock_all = None if protected is None else protected.reshape(b, -1).clone()
    first = True
    active = torch.arange(b, device=a.device)
    results: list[tuple[Tensor, Tensor, Tensor]] = []
    while active.numel():
        a_i, r_i = a[active], refs[active]
        index, counts = _changed_lists(r_i != a_i)
        m = index.shape[1]
        if m == 0:
            results.append((active, index, counts))
            break
        undone = undo_scores(adapter, a_i.reshape(-1, *shape), r_i.reshape(-1, *shape), index)
        accepted = torch.zeros(active.numel(), dtype=torch.int64, device=a.device)
        if first and keep_share is not None:
            rise = (undone - bars_own[active, None]).masked_fill(index < 0, 0.0)
            strong = (rise >= keep_share * rise.max(dim=1, keepdim=True).values) & (rise > 0) & (index >= 0)
            marks = _mask_of(index, strong, a.shape[1])
            lock_all = marks if lock_all is None else lock_all | marks
        first = False
        if prune:
            locked = None if lock_all is None else torch.gather(lock_all[active], 1, index.clamp_min(0)) & (index >= 0)
            accepted, cols = _longest_prefix(adapter, checked, a_i, r_i, index, undone, bars[active], shape, locked)
        done = accepted == 0
        if bool(done.any()):
            results.append((active[done], _ranked(index, undone, a_i, r_i)[done], counts[done]))
        if bool((~done).any()):
            rows = (~done).nonzero().flatten()
            # Undo each row's accepted prefix of its cheapest-first order.
            take = (torch.arange(m, device=a.device)[None, :] < accepted[rows, None]) & (cols[rows] >= 0)
            sub = active[rows]
            refs[sub] = torch.where(_mask_of(cols[rows], take, a.shape[1]), a[sub], refs[sub])
        active = active[~done]
    out = refs.reshape(references.shape)
    return out, _assemble(results, b, shape, a.device), _rescored(adapter, out, references, own)


def _assemble(
    results: list[tuple[Tensor, Tensor, Tensor]], b: int, shape: tuple[int, ...], device: Any
) -> list[np.ndarray]:
    """The ranked changes of every row from the ``(rows, ranked index, counts)`` parts pruning ended them in."""
    width = max((idx.shape[1] for _, idx, _ in results), default=0)
    ordered = torch.full((b, width), -1, dtype=torch.int64, device=device)
    counts = torch.zeros(b, dtype=torch.int64, device=device)
    for rows, idx, part_counts in results:
        ordered[rows, : idx.shape[1]] = idx
        counts[rows] = part_counts
    return _as_lists(ordered, counts, shape)


def _rescored(adapter: ModelAdapter, pruned: Tensor, references: Tensor, scores: Tensor) -> Tensor:
    """Scores of the pruned references: ``scores`` (those of ``references``) where pruning undid nothing,
    the model's score of each row it changed."""
    out = scores.clone()
    rows = (pruned != references).reshape(pruned.shape[0], -1).any(dim=1).nonzero().flatten()
    if rows.numel():
        out[rows] = score_in_chunks(adapter, pruned[rows]).to(out.dtype)
    return out


def _longest_prefix(
    adapter: ModelAdapter,
    checked: list[Constraint],
    a: Tensor,
    r: Tensor,
    index: Tensor,
    undone: Tensor,
    bars: Tensor,
    shape: tuple[int, ...],
    locked: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Per row, how many of its cheapest undos (in order) can be applied together under the bar,
    and the changed indices in that cheapest-first order (protected changes last)."""
    n, m = index.shape
    if locked is not None:  # a protected change sorts last and is never part of a prefix
        undone = undone.masked_fill(locked, float("inf"))
    cheap = torch.sort(undone, dim=1, stable=True).indices
    cols = torch.gather(index, 1, cheap)
    cheapest = torch.gather(undone, 1, cheap)
    going = cheapest[:, 0] <= bars  # the first undo alone must already fit
    # Prefixes in doubling spans (1, 2-3, 4-7, ...), every row of a block in one model call per span: a
    # row's accepted count is its number of leading prefixes that fit, as if they were tried one by one,
    # and a row whose prefix failed is not scored on longer ones (few calls for one row, little waste
    # for a large batch).
    fits = torch.zeros(n, m, dtype=torch.bool, device=a.device)
    block = max(1, SCORE_CHUNK // max(m, 1))
    for first in range(0, n, block):
        part = slice(first, first + block)
        valid = (cols[part] >= 0) & torch.isfinite(cheapest[part])
        masks = _prefix_masks(cols[part], valid, a.shape[1])
        alive = going[part].clone()
        start = 0
        while start < m and bool(alive.any()):
            stop = min(m, 2 * start + 1)
            span = slice(start, stop)
            fits[part, span] = _prefixes_fit(
                adapter, checked, a[part], r[part], masks[:, span], valid[:, span], cheapest[part, span], bars[part],
                alive, shape, known_first=start == 0,
            )  # fmt: skip
            alive &= fits[part, span].all(dim=1)
            start = stop
    accepted = fits.to(torch.int64).cumprod(dim=1).sum(dim=1)
    return accepted, cols


def _prefix_masks(cols: Tensor, valid: Tensor, width: int) -> Tensor:
    """``[R, M, N]`` bool: prefix ``j`` undoes the changes ``cols[:, : j + 1]`` (padding undoes nothing)."""
    rows, m = cols.shape
    one_hot = torch.zeros(rows, m, width + 1, dtype=torch.int8, device=cols.device)
    one_hot.scatter_(2, torch.where(valid, cols, width)[:, :, None], 1)
    # A column is undone at most once per row, so the running sum is 0 or 1: int8 (not int64) holds it.
    return one_hot[:, :, :width].cumsum(dim=1, dtype=torch.int8) > 0


def _prefixes_fit(
    adapter: ModelAdapter,
    checked: list[Constraint],
    a: Tensor,
    r: Tensor,
    masks: Tensor,
    valid: Tensor,
    cheapest: Tensor,
    bars: Tensor,
    going: Tensor,
    shape: tuple[int, ...],
    known_first: bool,
) -> Tensor:
    """``[R, S]``: whether the reference with the undos of each of ``S`` prefixes (``masks [R, S, N]``)
    applied fits (score at or below the bar, every other constraint kept), for the rows ``going`` (the
    others are all False; only they are scored). ``known_first``: the first prefix is the single cheapest
    undo, whose score (``cheapest``) is known."""
    rows, span = valid.shape
    out = torch.zeros(rows, span, dtype=torch.bool, device=a.device)
    todo = going.nonzero().flatten()
    if todo.numel() == 0:
        return out
    a_t, valid_t = a[todo], valid[todo]
    variants = torch.where(masks[todo], a_t[:, None, :], r[todo][:, None, :])  # [T, S, N]
    score = cheapest[todo].clone()
    skip = 1 if known_first else 0
    row, j = valid_t[:, skip:].nonzero(as_tuple=True)
    if row.numel():
        score[:, skip:][row, j] = score_in_chunks(adapter, variants[:, skip:][row, j].reshape(-1, *shape)).double()
    flat_variants = variants.reshape(-1, *shape)
    kept = all_satisfied(checked, flat_variants, a_t.repeat_interleave(span, dim=0).reshape(-1, *shape))
    out[todo] = valid_t & (score <= bars[todo, None]) & kept.reshape(-1, span)
    return out


@torch.no_grad()
def prune_changes(
    adapter: ModelAdapter,
    constraints: Sequence[Constraint],
    anomalies: Tensor,
    references: Tensor,
    *,
    bar: Tensor | float | None = None,
) -> Tensor:
    """Undo changes the reference does not need while it stays at or below ``bar`` (see ``prune_and_rank``)."""
    return prune_and_rank(adapter, constraints, anomalies, references, bar)[0]
