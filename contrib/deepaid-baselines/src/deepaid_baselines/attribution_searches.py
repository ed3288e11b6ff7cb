"""Attribution methods as baselines: top-K features by |attribution| of the detector's anomaly score.

Reference value of a chosen feature (the same rule for every attribution baseline): its value
in the detector's reconstruction or prediction where the adapter reconstructs, else the
per-feature median of the training-normal rows (``normal=``).

Attribution baseline input ("absent" feature) of integrated gradients, DeepLift, KernelSHAP and
LIME: the median normal row, or zeros without ``normal=``.
"""

from __future__ import annotations

import time
from typing import Any

from torch import Tensor, nn

from deepaid_baselines.attribution import USES_BASELINES, attribute
from deepaid_baselines.base import BaselineSearch, flat, has_reconstruction, top_k_mask
from deepaid_sdk.constraints import Constraint, changeable_mask
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.results import InterpretationBatch


class AttributionSearch(BaselineSearch):
    """Top-K features by |attribution| of ``adapter.score``; values by the reference-value rule.

    :param options: passed to ``deepaid_baselines.attribution.attribute`` (``n_steps``,
        ``n_samples``, ``chunk``...).
    """

    #: Name of the method in ``deepaid_baselines.attribution.ATTRIBUTION_METHODS``.
    method: str = ""
    #: Default options of the method.
    defaults: dict[str, Any] = {}

    def __init__(self, *, normal: Any = None, seed: int = 0, k: int | None = None, **options: Any) -> None:
        super().__init__(normal=normal, seed=seed, k=k)
        self.options = {**self.defaults, **options}

    @classmethod
    def applies_to(cls, adapter: ModelAdapter, normal: Any = None) -> bool:
        """Reference values come from a reconstruction or from normal rows: one of them is needed."""
        return has_reconstruction(adapter) or normal is not None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "method": self.method, **self.options}

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        started = time.perf_counter()
        values, rule = self.fill_values(adapter, anomalies)
        baselines = None
        if self.method in USES_BASELINES and self.normal is not None:
            baselines = self.median(adapter)
        model = getattr(adapter, "model", None)
        attr = attribute(
            self.method,
            adapter.score,
            anomalies,
            baselines,
            seed=self.seed,
            module=model if isinstance(model, nn.Module) else None,
            **self.options,
        )
        k = self.budget(constraints, flat(anomalies).shape[1])
        chosen = top_k_mask(flat(attr).abs(), changeable_mask(constraints, anomalies), k)
        params = {
            "k": k,
            "values": rule,
            "attribution_baseline": None
            if self.method not in USES_BASELINES
            else ("normal median" if baselines is not None else "zeros"),
        }
        return self.finish(adapter, anomalies, chosen, values, constraints, started=started, params=params)


class IntegratedGradientsSearch(AttributionSearch):
    """Integrated gradients (50 steps) from the median normal row to the anomaly."""

    name = method = "integrated_gradients"
    defaults = {"n_steps": 50}


class DeepLiftSearch(AttributionSearch):
    """DeepLift (rescale rule on the detector's layers) against the median normal row."""

    name = method = "deeplift"


class SaliencySearch(AttributionSearch):
    """Gradient of the anomaly score at the anomaly."""

    name = method = "saliency"


class InputXGradientSearch(AttributionSearch):
    """Input times the gradient of the anomaly score."""

    name = method = "input_x_gradient"


class KernelShapSearch(AttributionSearch):
    """KernelSHAP (200 coalitions per alert, seeded) with the median normal row as "absent"."""

    name = method = "kernel_shap"
    defaults = {"n_samples": 200}


class LimeSearch(AttributionSearch):
    """LIME (200 perturbations per alert, seeded; ridge surrogate) with the median normal row as "off"."""

    name = method = "lime"
    defaults = {"n_samples": 200}


ATTRIBUTION_SEARCHES: tuple[type[AttributionSearch], ...] = (
    IntegratedGradientsSearch,
    DeepLiftSearch,
    SaliencySearch,
    InputXGradientSearch,
    KernelShapSearch,
    LimeSearch,
)
