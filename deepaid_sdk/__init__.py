"""deepaid-sdk: explain why an unsupervised deep anomaly detector raised an alert.

For each alert, find the closest input the detector would accept (the *reference*) under
constraints, and report how the alert differs from it.
"""

from deepaid_sdk.constraint_specs import build_constraints
from deepaid_sdk.constraints import (
    BoxConstraint,
    ConcisenessConstraint,
    Constraint,
    FidelityConstraint,
    FrozenConstraint,
    IntegerConstraint,
    OneHotConstraint,
    StabilityConstraint,
)
from deepaid_sdk.distances import Distance
from deepaid_sdk.hookspecs import hookimpl
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.model.adapters import ModelAdapter, ReconstructionAdapter, ScoreAdapter
from deepaid_sdk.preset_options import Option, Preset
from deepaid_sdk.presets import create, preset, preset_factory, preset_options
from deepaid_sdk.registry import Registry, RegistryError, registry
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.schema import ExtraColumnsWarning, FeatureSchema
from deepaid_sdk.search import ReferenceSearch
from deepaid_sdk.search.gradient import GradientSearch

__version__ = "0.1.0"

from deepaid_sdk.explain import explain_file  # noqa: E402  (after the core it builds on)

__all__ = [
    "BoxConstraint",
    "ConcisenessConstraint",
    "Constraint",
    "Distance",
    "ExtraColumnsWarning",
    "FeatureSchema",
    "FidelityConstraint",
    "FrozenConstraint",
    "GradientSearch",
    "IntegerConstraint",
    "Interpretation",
    "InterpretationBatch",
    "Interpreter",
    "ModelAdapter",
    "OneHotConstraint",
    "Option",
    "Preset",
    "ReconstructionAdapter",
    "ReferenceSearch",
    "Registry",
    "RegistryError",
    "ScoreAdapter",
    "StabilityConstraint",
    "__version__",
    "build_constraints",
    "create",
    "explain_file",
    "hookimpl",
    "preset",
    "preset_factory",
    "preset_options",
    "registry",
]
