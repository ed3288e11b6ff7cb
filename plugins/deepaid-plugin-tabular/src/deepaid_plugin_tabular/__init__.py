"""DeepAID for tabular detectors: autoencoder adapters, the ``tabular`` preset, feature metadata,
synthetic data with ground truth, and the ``tabular`` demo and benchmark."""

from deepaid_plugin_tabular.adapters import AutoencoderAdapter, infer_width, score_adapter, tabular_adapter
from deepaid_plugin_tabular.constraints import GridConstraint, model_constraints
from deepaid_plugin_tabular.features import FeatureSpec, read_csv
from deepaid_plugin_tabular.preset import Calibration, TabularInterpreter, calibrate, tabular_interpreter

__all__ = [
    "AutoencoderAdapter",
    "Calibration",
    "FeatureSpec",
    "GridConstraint",
    "TabularInterpreter",
    "calibrate",
    "infer_width",
    "model_constraints",
    "read_csv",
    "score_adapter",
    "tabular_adapter",
    "tabular_interpreter",
]
