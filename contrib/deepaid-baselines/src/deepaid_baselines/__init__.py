"""deepaid-baselines: explainers to compare DeepAID with, as deepaid ``ReferenceSearch`` plugins.

``residual`` (reconstruction residual), ``nearest_normal`` (closest training-normal row), and
Captum attributions of the anomaly score (``integrated_gradients``, ``deeplift``, ``saliency``,
``input_x_gradient``, ``kernel_shap``, ``lime``). Each picks K features and reference values
for them; ``deepaid_sdk.bench.compare`` measures them next to DeepAID's search.
"""

from deepaid_baselines.attribution import ATTRIBUTION_METHODS, attribute
from deepaid_baselines.attribution_searches import (
    AttributionSearch,
    DeepLiftSearch,
    InputXGradientSearch,
    IntegratedGradientsSearch,
    KernelShapSearch,
    LimeSearch,
    SaliencySearch,
)
from deepaid_baselines.base import BaselineSearch
from deepaid_baselines.neighbours import NearestNormalSearch, nearest_rows
from deepaid_baselines.residual import ResidualSearch

__version__ = "0.1.0"

__all__ = [
    "ATTRIBUTION_METHODS",
    "AttributionSearch",
    "BaselineSearch",
    "DeepLiftSearch",
    "InputXGradientSearch",
    "IntegratedGradientsSearch",
    "KernelShapSearch",
    "LimeSearch",
    "NearestNormalSearch",
    "ResidualSearch",
    "SaliencySearch",
    "__version__",
    "attribute",
    "nearest_rows",
]
