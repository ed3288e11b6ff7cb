"""Per-verdict match thresholds calibrated on the labelled alerts themselves (leave one out).

One ``min_score`` for every verdict is too lax for a verdict whose alerts all look alike (a flood:
every labelled alert is nearly the same path, so a pattern that is merely similar should not pass as
one) and too strict for a varied one (benign false alerts). Calibrated, a verdict's threshold is the
lowest score any of its labelled alerts gets against the *other* labelled alerts' rules of that verdict
(its own rule left out where it alone taught it): an alert is given that verdict only if it is at least
as close to the verdict's rules as the verdict's own labelled alerts are to each other. A pattern unlike
every labelled one then falls below every threshold and is ``unknown``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from deepaid_sdk.distill.rules import LEVEL_SPAN, Rule, encode, path_scores, state_similarity
from deepaid_sdk.distill.states import State


def leave_one_out(
    rules: Sequence[Rule], paths: Sequence[tuple[State, ...]], verdicts: Sequence[str], span: float = LEVEL_SPAN
) -> np.ndarray:
    """``[n]``: each labelled alert's best score against the rules of its own verdict, without its own
    contribution (its rule is left out where its support is 1); 0 where no other rule of the verdict exists."""
    vocab: dict[State, int] = {}
    rule_enc = encode([r.states for r in rules], vocab)
    rule_states = list(vocab)
    alert_enc = encode(paths, vocab)
    scores = path_scores(alert_enc, rule_enc, state_similarity(list(vocab), rule_states, span))  # [n, R]
    where = {(r.verdict, r.states): j for j, r in enumerate(rules)}
    rule_verdict = np.array([r.verdict for r in rules], dtype=object)
    own = np.array([where.get((v, p), -1) for v, p in zip(verdicts, paths)])
    support = np.array([r.support for r in rules])
    mask = rule_verdict[None, :] == np.asarray(verdicts, dtype=object)[:, None]
    rows = np.flatnonzero((own >= 0) & (support[np.maximum(own, 0)] <= 1))
    mask[rows, own[rows]] = False
    return np.where(mask, scores, 0.0).max(axis=1, initial=0.0)


def verdict_thresholds(
    rules: Sequence[Rule],
    paths: Sequence[tuple[State, ...]],
    verdicts: Sequence[str],
    floor: float,
    span: float = LEVEL_SPAN,
) -> dict[str, float]:
    """Per verdict, the lowest leave-one-out score of its labelled alerts (at least ``floor``, at most 1)."""
    loo = leave_one_out(rules, paths, verdicts, span)
    labels = np.asarray(verdicts, dtype=object)
    return {v: float(np.clip(loo[labels == v].min(), floor, 1.0)) for v in dict.fromkeys(verdicts)}
