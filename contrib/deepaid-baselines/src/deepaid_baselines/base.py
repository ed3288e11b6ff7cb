"""What every baseline search shares: its K, the training-normal rows, and the reference-value rule.

A baseline picks K features of each anomaly and a value for each; the reference is the anomaly
with those features set to those values, projected onto the hard constraints given (box,
integer, frozen...), and reported through the core's ``build_batch`` like any search.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from deepaid_sdk.constraints import Constraint, max_changes, project_all
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.results import InterpretationBatch
from deepaid_sdk.search import ReferenceSearch, build_batch


def flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def top_k_mask(score: Tensor, movable: Tensor, k: int) -> Tensor:
    """``[B, N]`` bool: per row, the k highest ``score`` entries among the ``movable`` features."""
    masked = score.masked_fill(~movable, float("-inf"))
    k = min(k, score.shape[1])
    chosen = torch.zeros_like(movable).scatter_(1, masked.topk(k, dim=1).indices, True)
    return chosen & movable


def has_reconstruction(adapter: ModelAdapter) -> bool:
    """The adapter offers a reconstruction (its ``reconstructs`` capability)."""
    return bool(adapter.reconstructs)


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0; got {value!r}")
    return int(value)


class BaselineSearch(ReferenceSearch):
    """A non-iterative explainer used for comparison: K features and their reference values.

    :param normal: training-normal rows ``[M, *sample_shape]`` (numpy or tensor), for the
        baselines that need them (nearest row, median values).
    :param seed: seed of any sampling the baseline does.
    :param k: features to change; default: the tightest ``ConcisenessConstraint`` given to ``search``.
    """

    #: Discovered by ``deepaid_sdk.bench.compare.baseline_explainers``.
    is_baseline = True
    #: Input kinds this baseline explains.
    input_kinds: tuple[str, ...] = ("continuous",)
    #: Needs ``adapter.reconstruct``.
    needs_reconstruction = False
    #: Needs ``normal=`` rows.
    needs_normal = False

    def __init__(self, *, normal: Any = None, seed: int = 0, k: int | None = None) -> None:
        if normal is not None and not isinstance(normal, (np.ndarray, Tensor)):
            raise TypeError(f"normal: expected a numpy array or tensor of normal rows; got {type(normal).__name__}")
        self.normal = normal
        self.seed = _non_negative_int(seed, "seed")
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise ValueError(f"k: expected a positive integer or None; got {k!r}")
        self.k = None if k is None else int(k)
        self._prepared: dict[str, Tensor] = {}

    @classmethod
    def applies_to(cls, adapter: ModelAdapter, normal: Any = None) -> bool:
        """Whether this baseline can explain ``adapter``'s alerts given ``normal`` (or no) data."""
        if cls.needs_reconstruction and not has_reconstruction(adapter):
            return False
        return not (cls.needs_normal and normal is None)

    def describe(self) -> dict[str, Any]:
        return {
            "search": self.name,
            "baseline": True,
            "seed": self.seed,
            "k": self.k,
            "normal_rows": None if self.normal is None else int(self.normal.shape[0]),
        }

    # -- shared steps -------------------------------------------------------------------------

    def budget(self, constraints: Sequence[Constraint], width: int) -> int:
        """K: this search's own ``k``, else the constraints' L0 budget; capped at the width."""
        k = self.k if self.k is not None else max_changes(constraints)
        if k is None:
            raise ValueError(
                f"constraints: the {self.name} baseline needs K; pass a ConcisenessConstraint(k) "
                f"or {type(self).__name__}(k=...)"
            )
        return min(k, width)

    def normal_rows(self, adapter: ModelAdapter) -> Tensor:
        """The ``normal=`` rows, checked and on the adapter's device (prepared once per device)."""
        if self.normal is None:
            raise ValueError(
                f"normal: the {self.name} baseline needs training-normal rows; pass {type(self).__name__}(normal=...)"
            )
        key = str(adapter.device)
        if key not in self._prepared:
            self._prepared[key] = adapter.prepare(self.normal, "normal")
        return self._prepared[key]

    def median(self, adapter: ModelAdapter) -> Tensor:
        """Per-feature median of the normal rows (lower middle value for an even count), one sample."""
        key = f"median:{adapter.device}"
        if key not in self._prepared:
            self._prepared[key] = self.normal_rows(adapter).median(dim=0).values
        return self._prepared[key]

    def reconstruction(self, adapter: ModelAdapter, x: Tensor) -> Tensor | None:
        """``adapter.reconstruct(x)`` checked to have the input's shape, or None without one."""
        with torch.no_grad():
            rec = adapter.reconstruct(x)
        if rec is None:
            return None
        if tuple(rec.shape) != tuple(x.shape):
            raise ValueError(
                f"adapter: {type(adapter).__name__}.reconstruct returned shape {list(rec.shape)} for "
                f"inputs {list(x.shape)}; the {self.name} baseline needs the input's shape"
            )
        return rec.detach().to(x.dtype)

    def fill_values(self, adapter: ModelAdapter, x: Tensor) -> tuple[Tensor, str]:
        """Reference values of chosen features: the reconstruction if any, else the normal median."""
        rec = self.reconstruction(adapter, x)
        if rec is not None:
            return rec, "reconstruction"
        if self.normal is None:
            raise ValueError(
                f"normal: {type(adapter).__name__} has no reconstruction, so the {self.name} baseline "
                f"takes reference values from the median of normal rows; pass "
                f"{type(self).__name__}(normal=...)"
            )
        return self.median(adapter).expand_as(x), "normal median"

    def finish(
        self,
        adapter: ModelAdapter,
        anomalies: Tensor,
        chosen: Tensor,
        values: Tensor,
        constraints: Sequence[Constraint],
        *,
        started: float,
        params: dict[str, Any],
        details: Sequence[dict[str, Any]] = (),
    ) -> InterpretationBatch:
        """The reference (chosen features set to ``values``, then projected) as an ``InterpretationBatch``."""
        a = flat(anomalies)
        refs = torch.where(chosen, flat(values).to(a.dtype), a).reshape(anomalies.shape)
        refs = project_all(constraints, refs, anomalies)
        steps = np.zeros(anomalies.shape[0], dtype=np.int64)
        return build_batch(
            adapter,
            anomalies,
            refs,
            steps=steps,
            started=started,
            method=self.name,
            params={**self.describe(), **params},
            details=details,
        )
