"""A domain's benchmark case: alerts, ground truth, and the explainers to compare on them.

Domain plugins build a ``BenchmarkCase`` from their synthetic data and detector;
``deepaid_sdk.bench.compare.compare(case)`` measures every explainer in it the same way.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs
import numpy as np

from deepaid_sdk.results import InterpretationBatch

#: ``explain(anomalies, seed) -> InterpretationBatch``; ``changed`` ordered most important first.
Explainer = Callable[[np.ndarray, int], InterpretationBatch]


@attrs.define(eq=False)
class BenchmarkCase:
    """Detected alerts of one synthetic detector and the methods that explain them."""

    name: str
    """Case name, e.g. ``tabular-blob`` or ``tabular-manifold``."""
    anomalies: np.ndarray
    """``[N, *sample_shape]`` inputs the detector raised alerts on."""
    k: int
    """Number of features every method may change (the same K for all)."""
    explainers: dict[str, Explainer]
    """Method name -> explainer; ours first (named ``deepaid``), then the baselines."""
    is_normal: Callable[[np.ndarray], np.ndarray]
    """Detector verdict ``[M, *sample_shape] -> [M]`` bool, for the label-flip rate at K."""
    truth: np.ndarray | None = None
    """``[N, *sample_shape]`` bool planted features, where the data has them."""
    truth_metric: str = "recall"
    """``recall`` (recall@K) or ``position_accuracy`` (first changed position is the planted one)."""
    perturb: Callable[[np.ndarray, int], np.ndarray] | None = None
    """``perturb(anomalies, seed)``: the small-noise copy for robustness (default: 1% Gaussian)."""
    setup: dict[str, Any] = attrs.field(factory=dict)
    """Data, detector, K, sizes: printed with the results."""
