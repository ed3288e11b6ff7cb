"""The one policy for the score a reference must reach: the margin below the threshold, the typical
quantile of normal scores, or the strict minimum. Both searches and the pruning read it here.

A reference just below the threshold is the smallest change that silences the detector; on
correlated data it keeps one of several real causes, and the analyst reads the changed features as
the causes. So by default the target is *typical*: the ``quantile`` of the normal data's scores
(recorded by the adapter's ``calibrate``/``observe_normal``, else those of the search's own normal
rows), never above the strict bound ``threshold - margin``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import attrs
import torch
from torch import Tensor

from deepaid_sdk.checks import check_finite_number

#: The target modes: a typically normal reference, or the strict minimum below the threshold.
MODES = ("typical", "threshold")
#: The normal-score quantile a typical reference must reach, in every search.
DEFAULT_QUANTILE = 0.9
#: Without normal scores: the typical target is this share of ``|threshold|`` below the threshold.
DEFAULT_FALLBACK_SHARE = 0.25
#: A change whose undo raises the score by this share of the row's largest rise is kept (typical target).
DEFAULT_KEEP_SHARE = 0.2


def margin_of(adapter: Any, constraints: Sequence[Any] = ()) -> float:
    """The fidelity margin below the threshold: the ``FidelityConstraint``'s ``eps`` where one is given and
    set, else the adapter's ``eps``."""
    from deepaid_sdk.constraints import FidelityConstraint

    for c in constraints:
        if isinstance(c, FidelityConstraint) and c.eps is not None:
            return float(c.eps)
    return float(adapter.eps)


def strict_bound(adapter: Any, margin: float | None = None) -> float:
    """``threshold - margin`` (the adapter's ``eps`` by default): a reference above it is still an alert."""
    return float(adapter.threshold - (adapter.eps if margin is None else margin))


def typical_margin(adapter: Any, typical_score: float | None) -> float | None:
    """The margin that asks a reference to score no worse than a typical normal sample (``typical_score``,
    e.g. the median normal score): ``threshold - typical_score``, never negative; None without one."""
    return None if typical_score is None else max(float(adapter.threshold) - float(typical_score), 0.0)


def _quantile(value: Any) -> float | None:
    if value is None:
        return None
    q = check_finite_number(value, "quantile")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile: expected a normal-score quantile in [0, 1]; got {value}")
    return q


def _share(value: Any) -> float | None:
    return None if value is None else check_finite_number(value, "margin", minimum=0)


def _mode(_: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in MODES:
        raise ValueError(f"target: expected one of {MODES}; got {value!r}")


@attrs.frozen
class TargetPolicy:
    """How a search turns the adapter's threshold and normal scores into the score it aims for."""

    mode: str = attrs.field(default="typical", validator=_mode)
    """``typical`` (a typically normal reference) or ``threshold`` (the strict minimum)."""
    quantile: float | None = attrs.field(default=DEFAULT_QUANTILE, converter=_quantile)
    """The normal-score quantile a typical reference must reach; None: the strict bound."""
    fallback_share: float | None = attrs.field(default=DEFAULT_FALLBACK_SHARE, converter=_share)
    """Without normal scores: the typical target is this share of ``|threshold|`` below the threshold
    (None: the strict bound)."""

    @property
    def typical(self) -> bool:
        """Whether the policy aims for a typical normal score (else the strict bound)."""
        return self.mode == "typical" and self.quantile is not None

    def score(
        self, adapter: Any, margin: float | None = None, normal_scores: Callable[[], Tensor | None] | None = None
    ) -> float:
        """The target score. ``normal_scores`` gives scores of normal rows, asked for only where the
        adapter recorded none."""
        strict = strict_bound(adapter, margin)
        if not self.typical:
            return strict
        assert self.quantile is not None
        typical = adapter.normal_score_quantile(self.quantile)
        if typical is None and normal_scores is not None:
            scores = normal_scores()
            if scores is not None:
                typical = float(torch.quantile(scores.double().cpu(), self.quantile))
        if typical is None and self.fallback_share is not None:
            typical = adapter.threshold - self.fallback_share * abs(adapter.threshold)
        return strict if typical is None else min(float(typical), strict)
