"""Feature groups: features that stand for one cause together, declared by the adapter.

A detector's features often come in families: Kitsune's AfterImage measures one statistic over
five decay windows (``HH_jit_5_weight`` ... ``HH_jit_0.01_weight``), a time series has one
channel at several lags, a one-hot field has one column per category. An explanation that
changes four windows of one statistic names one cause, not four. An adapter declares its
groups with ``feature_groups`` (one group name per flattened feature; default None: every
feature is its own group), and then

- conciseness may count groups: ``GroupConcisenessConstraint(k, groups)`` lets at most ``k``
  groups change (any number of features inside them), and the gradient search picks its support
  group by group (``choose_support``);
- results carry the groups: ``Interpretation.changed_groups()``, records (``changed_groups``) and
  the table title ("3 changed in 2 groups");
- where a budget cannot reach normal, the result says which size would
  (``needs 21 features in 5 groups``, see ``deepaid_sdk.search.needs``).
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.checks import check_positive_int
from deepaid_sdk.constraints import Constraint


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"feature_groups: expected one group name per feature; got {type(value).__name__}")
    names = tuple(str(v) for v in value)
    if not names or any(not n for n in names):
        raise ValueError("feature_groups: expected a non-empty group name for every feature")
    return names


@attrs.frozen(eq=False)
class FeatureGroups:
    """A group name per flattened feature; ``index[d]`` is feature ``d``'s group id (first appearance order)."""

    names: tuple[str, ...] = attrs.field(converter=_names)
    """Group name of each feature."""
    labels: tuple[str, ...] = attrs.field(init=False)
    """The distinct group names, in order of first appearance."""
    index: np.ndarray = attrs.field(init=False, repr=False)
    """``[N]`` int64 group id of each feature."""

    def __attrs_post_init__(self) -> None:
        order = {n: i for i, n in enumerate(dict.fromkeys(self.names))}
        object.__setattr__(self, "labels", tuple(order))
        object.__setattr__(self, "index", np.array([order[n] for n in self.names], dtype=np.int64))

    @classmethod
    def singletons(cls, width: int, feature_names: Sequence[str] | None = None) -> FeatureGroups:
        """Every feature its own group, named by ``feature_names`` where given (else its index)."""
        names = list(feature_names) if feature_names is not None and len(feature_names) == width else range(width)
        return cls([str(n) for n in names])

    @classmethod
    def of(cls, groups: Any, width: int, feature_names: Sequence[str] | None = None) -> FeatureGroups:
        """``groups`` (a ``FeatureGroups``, names per feature, or None for singletons) checked against ``width``."""
        if groups is None:
            return cls.singletons(width, feature_names)
        found = groups if isinstance(groups, FeatureGroups) else cls(groups)
        if len(found) != width:
            raise ValueError(f"feature_groups: expected {width} group names (one per feature); got {len(found)}")
        return found

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_groups(self) -> int:
        """How many distinct groups there are."""
        return len(self.labels)

    @property
    def trivial(self) -> bool:
        """Every feature is its own group (counting groups is counting features)."""
        return self.n_groups == len(self.names)

    def ids(self, device: Any = "cpu") -> Tensor:
        """``[N]`` group ids as a torch tensor on ``device``."""
        return torch.as_tensor(self.index, device=device)

    def per_group(self, values: Tensor) -> Tensor:
        """``[B, G]``: the sum of ``values [B, N]`` over each group's features."""
        ids = self.ids(values.device).expand_as(values)
        out = values.new_zeros(values.shape[0], self.n_groups)
        return out.scatter_add_(1, ids, values)

    def count(self, changed: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Per row of a ``[B, N]`` bool mask, how many groups have a changed feature (numpy in, numpy out)."""
        if isinstance(changed, np.ndarray):
            hit = np.zeros((changed.shape[0], self.n_groups), dtype=bool)
            rows, cols = np.nonzero(changed.reshape(changed.shape[0], -1))
            hit[rows, self.index[cols]] = True
            return hit.sum(axis=1)
        return (self.per_group(changed.reshape(changed.shape[0], -1).double()) > 0).sum(dim=1)

    def top(self, effect: Tensor, k: int, movable: Tensor | None = None) -> Tensor:
        """``[B, N]`` bool: the features of each row's ``k`` groups with the largest summed ``effect``
        (negative entries count as 0), limited to ``movable``."""
        gain = self.per_group(effect.clamp_min(0.0))
        chosen = torch.zeros_like(gain, dtype=torch.bool)
        chosen.scatter_(1, gain.topk(min(k, self.n_groups), dim=1).indices, True)
        mask = torch.gather(chosen, 1, self.ids(effect.device).expand(effect.shape[0], -1))
        return mask if movable is None else mask & movable

    def labels_of(self, flat_changed: Sequence[int] | np.ndarray) -> list[str]:
        """The groups of the changed features (flat indices, most important first), each once, in that order."""
        return list(dict.fromkeys(self.names[int(i)] for i in np.asarray(flat_changed).reshape(-1)))


def needs_text(features: int, groups: int | None) -> str:
    """``needs 21 features in 5 groups`` (``needs 3 features`` where the groups are the features)."""
    noun = "feature" if features == 1 else "features"
    if groups is None or groups == features:
        return f"needs {features} {noun}"
    return f"needs {features} {noun} in {groups} {'group' if groups == 1 else 'groups'}"


class GroupConcisenessConstraint(Constraint):
    """At most ``k`` groups of features differ from the anomaly (a hard budget counted in groups).

    Any number of a chosen group's features may change. The projection keeps each over-budget
    row's ``k`` groups with the largest summed change and resets the others.
    """

    name = "group-conciseness"
    hard = True
    priority = 100

    def __init__(self, k: int, groups: Any) -> None:
        self.k = check_positive_int(k, "k")
        self.max_groups = self.k
        if not isinstance(groups, FeatureGroups):
            groups = FeatureGroups(groups)
        self.groups = groups

    def _check(self, ref: Tensor) -> Tensor:
        flat = ref.reshape(ref.shape[0], -1)
        if flat.shape[1] != len(self.groups):
            raise ValueError(
                f"group-conciseness: the groups name {len(self.groups)} features; the samples have {flat.shape[1]}"
            )
        return flat

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Keep each over-budget row's ``k`` most changed groups; reset the others to the anomaly's values."""
        r, a = self._check(ref), anomaly.reshape(anomaly.shape[0], -1)
        delta = (r - a).abs()
        over = (self.groups.count(delta > 0) > self.k).nonzero().flatten()
        if over.numel() == 0:
            return ref.clone()
        keep = torch.ones_like(delta, dtype=torch.bool)
        keep[over] = self.groups.top(delta[over], self.k)
        return torch.where(keep, r, a).reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: at most ``k`` groups have a changed feature."""
        r, a = self._check(ref), anomaly.reshape(anomaly.shape[0], -1)
        count = self.groups.count(r != a)
        assert isinstance(count, Tensor)
        return count <= self.k


def group_budget(constraints: Sequence[Constraint]) -> GroupConcisenessConstraint | None:
    """The tightest group budget among ``constraints``, or None."""
    found = [c for c in constraints if isinstance(c, GroupConcisenessConstraint)]
    return min(found, key=lambda c: c.k) if found else None


def without_budgets(constraints: Sequence[Constraint]) -> list[Constraint]:
    """``constraints`` without any change budget (features or groups): what a dense descent keeps."""
    return [c for c in constraints if c.max_changes is None and not isinstance(c, GroupConcisenessConstraint)]


def keep_top(score: Tensor, k: int) -> Tensor:
    """``[B, N]`` bool mask of the k highest entries per row."""
    return torch.zeros_like(score, dtype=torch.bool).scatter_(1, score.topk(k, dim=1).indices, True)


def choose_support(effect: Tensor, k: int, constraints: Sequence[Constraint], movable: Tensor) -> Tensor:
    """``[B, N]`` bool support of the search: the ``k`` features with the largest ``effect``, or, under a
    group budget, the features of the budget's groups with the largest summed effect (at most ``k`` of
    them when a feature budget applies too)."""
    budget = group_budget(constraints)
    if budget is None:
        return keep_top(effect, k) & movable
    support = budget.groups.top(effect.masked_fill(~movable, 0.0), budget.k, movable)
    if k < effect.shape[1]:  # a feature budget as well: the strongest k inside the chosen groups
        inside = effect.masked_fill(~support, -float("inf"))
        support = support & keep_top(inside, k)
    return support
