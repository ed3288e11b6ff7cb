"""Constraints on a reference: soft terms of the search objective and hard projections.

Feature indices (``dims``, ``groups``) always refer to the *flattened* sample, so the same
constraint works for a vector ``[D]`` and a window ``[W, D]`` (index ``w * D + d``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.checks import check_finite_number, check_positive_int, feature_indices
from deepaid_sdk.distances import Distance, L2Distance

if TYPE_CHECKING:
    from deepaid_sdk.model.adapters import ModelAdapter


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


class Constraint(ABC):
    """One requirement on the reference ``ref`` of ``anomaly`` (both ``[B, ...]``).

    Soft constraints add ``penalty`` to the objective; hard ones are enforced by ``project``
    after every search step. ``satisfied`` is what the stopping rule and the results check.
    """

    name: str = ""
    #: Enforced by projection (True) or only penalised (False).
    hard: bool = False
    #: Projection order, lowest first: value domains, then frozen fields, then the L0 budget.
    priority: int = 50
    #: Largest number of features the reference may change, when this constraint bounds it.
    max_changes: int | None = None

    def bind(self, adapter: ModelAdapter, distance: Distance) -> Constraint:
        """A copy tied to the detector and distance of one search (default: self, unchanged)."""
        return self

    def penalty(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Soft term ``[B]`` added to the objective (zero for purely hard constraints)."""
        return ref.new_zeros(ref.shape[0])

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Nearest feasible reference; returns ``ref`` unchanged where it is already feasible."""
        return ref

    def changeable(self, anomaly: Tensor) -> Tensor | None:
        """``[B, N]`` bool mask of flattened features the search may change, or None for all."""
        return None

    @abstractmethod
    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: the constraint holds for each row."""

    def evaluate(self, ref: Tensor, anomaly: Tensor) -> tuple[Tensor, Tensor]:
        """``(penalty, satisfied)`` in one go; override where both share work (one model call)."""
        return self.penalty(ref, anomaly), self.satisfied(ref, anomaly)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class FidelityConstraint(Constraint):
    """The reference must be judged normal with margin ``eps`` below the threshold."""

    name = "fidelity"

    def __init__(self, eps: float | None = None, weight: float = 1.0, adapter: ModelAdapter | None = None) -> None:
        self.eps = None if eps is None else check_finite_number(eps, "eps")
        if self.eps is not None and self.eps < 0:
            raise ValueError(f"eps: expected a margin >= 0; got {self.eps}")
        self.weight = check_finite_number(weight, "weight")
        self.adapter = adapter

    def bind(self, adapter: ModelAdapter, distance: Distance) -> FidelityConstraint:
        """A copy tied to ``adapter``: the fidelity term needs the detector's scores and threshold."""
        return FidelityConstraint(self.eps, self.weight, adapter)

    def _adapter(self) -> ModelAdapter:
        if self.adapter is None:
            raise ValueError("fidelity: constraint is not bound to a model; call bind(adapter, distance)")
        return self.adapter

    def margin(self) -> float:
        """The margin below the threshold: ``eps`` when given, otherwise the adapter's own ``eps``."""
        return self._adapter().eps if self.eps is None else self.eps

    def penalty(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``weight * relu(score - (threshold - margin))``: zero once the reference is normal with margin."""
        return self.weight * self._adapter().fidelity_loss(ref, self.margin())

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: the reference scores at or below ``threshold - margin`` (no gradient)."""
        adapter = self._adapter()
        with torch.no_grad():
            return adapter.score(ref) <= adapter.threshold - self.margin()

    def evaluate(self, ref: Tensor, anomaly: Tensor) -> tuple[Tensor, Tensor]:
        """Penalty and satisfied from one model call, since both need the reference's score."""
        adapter = self._adapter()
        bound = adapter.threshold - self.margin()
        score = adapter.score(ref)
        return self.weight * torch.relu(score - bound), score.detach() <= bound


class StabilityConstraint(Constraint):
    """Keep the reference close to the anomaly: ``lam * distance(ref, anomaly)``."""

    name = "stability"

    def __init__(self, lam: float = 0.01, distance: Distance | None = None) -> None:
        self.lam = check_finite_number(lam, "lam")
        if self.lam < 0:
            raise ValueError(f"lam: expected >= 0; got {self.lam}")
        if distance is not None and not isinstance(distance, Distance):
            raise TypeError(f"distance: expected a Distance; got {type(distance).__name__}")
        self.distance = distance

    def bind(self, adapter: ModelAdapter, distance: Distance) -> StabilityConstraint:
        """A copy that uses the search's distance, unless this constraint was given its own."""
        return StabilityConstraint(self.lam, self.distance or distance)

    def penalty(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``lam * distance(ref, anomaly)`` (L2 when unbound): pulls the reference towards the anomaly."""
        return self.lam * (self.distance or L2Distance())(ref, anomaly)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Always True: closeness is weighed in the objective, never a condition a reference can fail."""
        return torch.ones(ref.shape[0], dtype=torch.bool, device=ref.device)


class ConcisenessConstraint(Constraint):
    """At most ``k`` features differ from the anomaly (a hard L0 budget)."""

    name = "conciseness"
    hard = True
    priority = 100

    def __init__(self, k: int, tol: float = 0.0) -> None:
        self.k = check_positive_int(k, "k")
        self.max_changes = self.k
        self.tol = float(tol)

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Keep each over-budget row's ``k`` largest changes and reset the others to the anomaly's values."""
        r, a = _flat(ref), _flat(anomaly)
        if self.k >= r.shape[1]:
            return ref
        delta = (r - a).abs()
        over = ((delta > 0).sum(dim=1) > self.k).nonzero().flatten()
        if over.numel() == 0:  # every row within budget (e.g. a descent on a fixed support): a copy, no top-k
            return ref.clone()
        keep = torch.ones_like(delta, dtype=torch.bool)
        top = delta[over].topk(self.k, dim=1).indices
        keep[over] = torch.zeros_like(delta[over], dtype=torch.bool).scatter_(1, top, True)
        return torch.where(keep, r, a).reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: at most ``k`` features differ from the anomaly by more than ``tol``."""
        return ((_flat(ref) - _flat(anomaly)).abs() > self.tol).sum(dim=1) <= self.k


def _bounds(value: Any, name: str) -> Tensor:
    try:
        t = torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number or an array of numbers; got {value!r}") from None
    if bool(torch.isnan(t).any()):
        raise ValueError(f"{name}: contains NaN (use -inf/inf for an open side)")
    return t


class BoxConstraint(Constraint):
    """Each feature stays within ``[low, high]`` (scalars, or one value per flattened feature).

    ``changed_only``: only the features the reference changes must lie in the box; one left at the
    anomaly's own value is as possible an input as the anomaly. That is the reading of a box drawn
    from the normal rows' range (the tabular preset's default): an anomaly is often outside it on
    more features than the budget K may change, and the budget's projection resets those features
    to the anomaly's values, so a strict box could never be met. The default (False) is the strict
    domain check: every feature of the reference, changed or not, lies in the box.
    """

    name = "box"
    hard = True
    priority = 10

    def __init__(self, low: Any, high: Any, *, changed_only: bool = False) -> None:
        self.changed_only = bool(changed_only)
        self.low, self.high = _bounds(low, "low"), _bounds(high, "high")
        self._converted: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}
        if self.low.ndim > 1 or self.high.ndim > 1:
            raise ValueError(
                f"low/high: expected scalars or 1-d arrays; got shapes {tuple(self.low.shape)}, "
                f"{tuple(self.high.shape)}"
            )
        try:
            bad = (
                (self.low > self.high).nonzero().flatten().tolist()
                if self.low.ndim or self.high.ndim
                else ([0] if bool(self.low > self.high) else [])
            )
        except RuntimeError:
            raise ValueError(f"low/high: lengths differ, {self.low.shape[0]} vs {self.high.shape[0]}") from None
        if bad:
            raise ValueError(f"low/high: min > max at features {bad[:10]}")

    def _lh(self, ref: Tensor) -> tuple[Tensor, Tensor]:
        width = _flat(ref).shape[1]
        for name, t in (("low", self.low), ("high", self.high)):
            if t.ndim == 1 and t.shape[0] != width:
                raise ValueError(f"box {name}: has {t.shape[0]} values; the samples have {width} features")
        # Converted once per device and dtype: a search projects and checks the box at every step.
        key = (ref.device, ref.dtype)
        cached = self._converted.get(key)
        if cached is None:
            cached = self._converted[key] = (self.low.to(ref.device, ref.dtype), self.high.to(ref.device, ref.dtype))
        return cached

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Clamp every feature into ``[low, high]``."""
        low, high = self._lh(ref)
        return torch.minimum(torch.maximum(_flat(ref), low), high).reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: every feature lies within ``[low, high]`` (or, with ``changed_only``, keeps the
        anomaly's own value)."""
        low, high = self._lh(ref)
        r = _flat(ref)
        inside = (r >= low) & (r <= high)
        return (inside | (r == _flat(anomaly)) if self.changed_only else inside).all(dim=1)


class _DimsConstraint(Constraint):
    """A constraint on a listed set of flattened features (all features when ``dims`` is None)."""

    def __init__(self, dims: Sequence[int] | np.ndarray | None = None) -> None:
        self.dims = None if dims is None else torch.as_tensor(np.unique(feature_indices(dims, "dims")))

    def _mask(self, ref: Tensor) -> Tensor:
        width = _flat(ref).shape[1]
        mask = torch.zeros(width, dtype=torch.bool, device=ref.device)
        if self.dims is None:
            return mask.fill_(True)
        if self.dims.numel() and int(self.dims.max()) >= width:
            raise ValueError(f"{self.name} dims: index {int(self.dims.max())} is outside the {width} features")
        return mask.index_fill_(0, self.dims.to(ref.device), True)


class IntegerConstraint(_DimsConstraint):
    """Listed features stay whole numbers (packet counts, ports, flags)."""

    name = "integer"
    hard = True
    priority = 20

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Round the listed features (all when ``dims`` is None) to the nearest whole number."""
        r = _flat(ref)
        return torch.where(self._mask(ref), torch.round(r), r).reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: the listed features are whole numbers (within 1e-6)."""
        r = _flat(ref)
        return ((r - torch.round(r)).abs() <= 1e-6).logical_or(~self._mask(ref)).all(dim=1)


class FrozenConstraint(_DimsConstraint):
    """Listed features never change (identifiers, fields the analyst cannot act on)."""

    name = "frozen"
    hard = True
    priority = 90

    def __init__(self, dims: Sequence[int] | np.ndarray) -> None:
        if dims is None:
            raise ValueError("dims: frozen needs the list of features that must not change")
        super().__init__(dims)

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """Put the frozen features back to the anomaly's values."""
        return torch.where(self._mask(ref), _flat(anomaly), _flat(ref)).reshape(ref.shape)

    def changeable(self, anomaly: Tensor) -> Tensor:
        """``[B, N]`` mask of every feature but the frozen ones, so a search never picks those."""
        return (~self._mask(anomaly)).expand(anomaly.shape[0], -1)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: the frozen features equal the anomaly's."""
        return ((_flat(ref) == _flat(anomaly)) | ~self._mask(ref)).all(dim=1)


class OneHotConstraint(Constraint):
    """Each group of features holds exactly one 1 and zeros elsewhere (a categorical code)."""

    name = "onehot"
    hard = True
    priority = 20

    def __init__(self, groups: Sequence[Sequence[int]]) -> None:
        groups = [list(map(int, g)) for g in groups]
        if not groups or any(len(g) == 0 for g in groups):
            raise ValueError("groups: expected a non-empty list of non-empty index groups")
        flat = [i for g in groups for i in g]
        if len(set(flat)) != len(flat):
            raise ValueError("groups: a feature belongs to more than one group")
        if min(flat) < 0:
            raise ValueError(f"groups: expected indices >= 0; got {min(flat)}")
        size = max(len(g) for g in groups)
        # Pad groups to one width with -1 so every group is projected in one gather/scatter.
        self.index = torch.tensor([list(g) + [-1] * (size - len(g)) for g in groups], dtype=torch.int64)

    @classmethod
    def rows(cls, num_rows: int, num_classes: int) -> OneHotConstraint:
        """Every row of a ``[num_rows, num_classes]`` sample is one-hot (e.g. a window of log keys)."""
        return cls([[r * num_classes + c for c in range(num_classes)] for r in range(num_rows)])

    def _gather(self, ref: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Flattened rows, the padded group index, its validity mask and the values ``[B, G, S]``."""
        r = _flat(ref)
        if int(self.index.max()) >= r.shape[1]:
            raise ValueError(f"onehot groups: index {int(self.index.max())} is outside the {r.shape[1]} features")
        index = self.index.to(ref.device)
        valid = index >= 0
        return r, index, valid, r[:, index.clamp_min(0)]

    def project(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """In each group, set the largest value to 1 and the others to 0."""
        r, index, valid, values = self._gather(ref)
        values = values.masked_fill(~valid, float("-inf"))
        hot = torch.zeros_like(values).scatter_(2, values.argmax(dim=2, keepdim=True), 1.0)
        out = r.clone()
        out[:, index[valid]] = hot[:, valid]
        return out.reshape(ref.shape)

    def satisfied(self, ref: Tensor, anomaly: Tensor) -> Tensor:
        """``[B]`` bool: every group holds only zeros and ones, with exactly one 1."""
        _, _, valid, values = self._gather(ref)
        values = values.masked_fill(~valid, 0.0)
        binary = ((values == 0) | (values == 1)).all(dim=2)
        return (binary & (values.sum(dim=2) == 1)).all(dim=1)


BUILTIN_CONSTRAINTS: tuple[type[Constraint], ...] = (
    FidelityConstraint,
    StabilityConstraint,
    ConcisenessConstraint,
    BoxConstraint,
    IntegerConstraint,
    FrozenConstraint,
    OneHotConstraint,
)
"""The constraints the core registers (by their ``name``) through the same hook as plugins."""


def ordered_hard(constraints: Sequence[Constraint]) -> list[Constraint]:
    """Hard constraints in projection order."""
    return sorted((c for c in constraints if c.hard), key=lambda c: c.priority)


def project_all(constraints: Sequence[Constraint], ref: Tensor, anomaly: Tensor) -> Tensor:
    """Project ``ref`` through every hard constraint in ``priority`` order (value domains first, the L0 budget last)."""
    for c in ordered_hard(constraints):
        ref = c.project(ref, anomaly)
    return ref


def all_satisfied(constraints: Sequence[Constraint], ref: Tensor, anomaly: Tensor) -> Tensor:
    """``[B]`` bool: every constraint, hard or soft, holds for the row."""
    ok = torch.ones(ref.shape[0], dtype=torch.bool, device=ref.device)
    for c in constraints:
        ok &= c.satisfied(ref, anomaly)
    return ok


def evaluate_all(constraints: Sequence[Constraint], ref: Tensor, anomaly: Tensor) -> tuple[Tensor, Tensor]:
    """Summed penalties ``[B]`` (with gradient) and ``[B]`` bool: every constraint holds."""
    total = ref.new_zeros(ref.shape[0])
    ok = torch.ones(ref.shape[0], dtype=torch.bool, device=ref.device)
    for c in constraints:
        penalty, satisfied = c.evaluate(ref, anomaly)
        total = total + penalty
        ok &= satisfied
    return total, ok


def max_changes(constraints: Sequence[Constraint]) -> int | None:
    """The tightest L0 budget among ``constraints``, or None when none bounds it."""
    budgets = [c.max_changes for c in constraints if c.max_changes is not None]
    return min(budgets) if budgets else None


def changeable_mask(constraints: Sequence[Constraint], anomaly: Tensor) -> Tensor:
    """``[B, N]`` bool: features no constraint forbids changing."""
    mask = torch.ones_like(_flat(anomaly), dtype=torch.bool)
    for c in constraints:
        m = c.changeable(anomaly)
        if m is not None:
            mask &= m.reshape(mask.shape)
    return mask
