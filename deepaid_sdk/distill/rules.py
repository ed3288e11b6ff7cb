"""Rules and how an alert's state path is matched against them (batched over alerts and rules).

A ``Rule`` is a verdict attached to a state path (most important change first) and the number
of labelled alerts that had it. Two ways of matching are offered and measured by
``deepaid bench distill``:

- ``"fsm"`` (the paper's model): the rules of one verdict form a state machine (its states and
  its transitions between consecutive states); an alert is scored by how much of its path the
  machine holds (states weighted by importance, and transitions);
- ``"path"``: an alert is scored against each rule path by importance-weighted overlap in both
  directions (how much of the alert the rule explains and how much of the rule the alert shows),
  and takes the verdict of the nearest rule.

States of the same feature in different cells count as partly similar (``state_similarity``),
so a count in "the top 1%" still matches a rule that saw "the top 0.1%".
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import attrs
import numpy as np

from deepaid_sdk.distill.states import State

MODES = ("fsm", "path")
#: Similarity of two states of one feature in different cells: ``SAME_FEATURE`` plus a bonus that
#: falls to zero over ``LEVEL_SPAN`` cells of distance.
SAME_FEATURE = 0.5
LEVEL_SPAN = 3.0


@attrs.frozen
class Rule:
    """A verdict for alerts whose explanation follows ``states``; ``support`` alerts taught it."""

    verdict: str
    states: tuple[State, ...]
    support: int = 1

    def text(self) -> str:
        """The state path as one readable line (``(no change)`` for an empty path)."""
        return " -> ".join(s.text for s in self.states) or "(no change)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: verdict, support and states; ``from_dict`` reads it back."""
        return {"verdict": self.verdict, "support": self.support, "states": [s.to_dict() for s in self.states]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "rule") -> Rule:
        """Rebuild from ``to_dict()``; a malformed entry is a ValueError naming where it is (``where``)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("verdict"), str) or not data["verdict"]:
            raise ValueError(
                f"{where}: expected {{'verdict': non-empty str, 'support': int, 'states': [...]}}; got {data!r}"
            )
        support = data.get("support", 1)
        if isinstance(support, bool) or not isinstance(support, int) or support < 1:
            raise ValueError(f"{where}.support: expected a positive integer; got {support!r}")
        states = data.get("states")
        if not isinstance(states, list):
            raise ValueError(f"{where}.states: expected a list of states; got {states!r}")
        return cls(
            data["verdict"], tuple(State.from_dict(s, f"{where}.states[{j}]") for j, s in enumerate(states)), support
        )


def state_similarity(a: Sequence[State], b: Sequence[State], span: float = LEVEL_SPAN) -> np.ndarray:
    """``[len(a), len(b)]``: 1 for equal states, partial for one feature in near cells, else 0.

    ``span``: cells of distance over which the bonus above ``SAME_FEATURE`` falls to zero (the state
    extractor's ``level_span``: finer cells need a longer span)."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    fa = np.array([s.feature for s in a], dtype=object)
    fb = np.array([s.feature for s in b], dtype=object)
    same_feature = fa[:, None] == fb[None, :]
    la = np.array([np.nan if s.level is None else s.level for s in a], dtype=np.float64)
    lb = np.array([np.nan if s.level is None else s.level for s in b], dtype=np.float64)
    closeness = np.nan_to_num(np.clip(1.0 - np.abs(la[:, None] - lb[None, :]) / span, 0.0, 1.0), nan=0.0)
    va = np.array([s.value for s in a], dtype=object)
    vb = np.array([s.value for s in b], dtype=object)
    equal = same_feature & (va[:, None] == vb[None, :])
    return np.where(equal, 1.0, np.where(same_feature, SAME_FEATURE + (1 - SAME_FEATURE - 1e-3) * closeness, 0.0))


def importance_weights(length: int) -> np.ndarray:
    """Weight of the i-th most important change: ``1 / (i + 1)``."""
    return 1.0 / (1.0 + np.arange(length, dtype=np.float64))


@attrs.frozen(eq=False)
class Encoded:
    """State paths as padded index arrays over one vocabulary, with their importance weights."""

    index: np.ndarray
    """``[n, L]`` state ids, -1 as padding."""
    weight: np.ndarray
    """``[n, L]`` importance weights, 0 at padding."""


def encode(paths: Sequence[Sequence[State]], vocab: dict[State, int]) -> Encoded:
    """Paths as ids of ``vocab`` (new states are added to it)."""
    width = max([len(p) for p in paths] + [1])
    index = np.full((len(paths), width), -1, dtype=np.int64)
    weight = np.zeros((len(paths), width))
    for i, path in enumerate(paths):
        ids = [vocab.setdefault(s, len(vocab)) for s in path]
        index[i, : len(ids)] = ids
        weight[i, : len(ids)] = importance_weights(len(ids))
    return Encoded(index, weight)


def _gather(sim: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sim[a][..., b]`` with 0 wherever either id is padding: ``[*a.shape, *b.shape]``."""
    padded = np.pad(sim, ((0, 1), (0, 1)))  # id -1 reads the zero row/column
    return padded[a.reshape(-1)][:, b.reshape(-1)].reshape(*a.shape, *b.shape)


def path_scores(alerts: Encoded, rules: Encoded, sim: np.ndarray) -> np.ndarray:
    """``[n, R]``: mean of the weighted share of the alert the rule covers and of the rule the alert covers."""
    s = _gather(sim, alerts.index, rules.index)  # [n, La, R, Lr]
    a_cov = (s.max(axis=3) * alerts.weight[:, :, None]).sum(axis=1) / np.maximum(alerts.weight.sum(axis=1), 1e-12)[
        :, None
    ]
    r_cov = (s.max(axis=1) * rules.weight[None]).sum(axis=2) / np.maximum(rules.weight.sum(axis=1), 1e-12)[None]
    return 0.5 * (a_cov + r_cov)


def fsm_scores(
    alerts: Encoded, rules: Encoded, rule_verdicts: np.ndarray, verdicts: Sequence[str], sim: np.ndarray
) -> np.ndarray:
    """``[n, V]``: how much of each alert's path the state machine of each verdict holds.

    Half the score is the importance-weighted share of the alert's states found among the
    machine's states, half the share of its transitions (consecutive pairs) found among the
    machine's transitions; an alert with one state is scored on states alone.
    """
    n, v = alerts.index.shape[0], len(verdicts)
    out = np.zeros((n, v))
    a_valid = alerts.index >= 0
    a_pairs = a_valid[:, 1:] & a_valid[:, :-1]
    wsum = np.maximum(alerts.weight.sum(axis=1), 1e-12)
    for j in range(len(verdicts)):  # one machine per verdict (a handful)
        idx = rules.index[rule_verdicts == j]
        states = np.unique(idx[idx >= 0])
        s = _gather(sim, alerts.index, states)  # [n, La, S]
        state_cov = (s.max(axis=2, initial=0.0) * alerts.weight).sum(axis=1) / wsum
        valid = (idx[:, 1:] >= 0) & (idx[:, :-1] >= 0)
        src, dst = idx[:, :-1][valid], idx[:, 1:][valid]
        if a_pairs.any() and src.size:
            pair = _pair_match(sim, alerts.index, src, dst)
            trans_cov = (pair * a_pairs).sum(axis=1) / np.maximum(a_pairs.sum(axis=1), 1)
        else:
            trans_cov = np.zeros(n)
        has_pairs = a_pairs.any(axis=1)
        out[:, j] = np.where(has_pairs, 0.5 * state_cov + 0.5 * trans_cov, state_cov)
    return out


def _pair_match(sim: np.ndarray, index: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``[n, La-1]``: best similarity of each consecutive alert pair to a transition ``src -> dst``."""
    first = _gather(sim, index[:, :-1], src)  # [n, La-1, T]
    second = _gather(sim, index[:, 1:], dst)  # [n, La-1, T]
    return np.minimum(first, second).max(axis=2)
