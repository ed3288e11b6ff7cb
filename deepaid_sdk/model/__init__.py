"""The detector side: adapters that score a batch, adapters for detectors that are not torch modules,
and the check of whether a score has an input gradient."""

from deepaid_sdk.model.adapters import (
    SCORE_CHUNK,
    ModelAdapter,
    ReconstructionAdapter,
    ScoreAdapter,
    model_device,
    score_in_chunks,
)
from deepaid_sdk.model.foreign import NumpyScoreAdapter, OnnxAdapter, SklearnAdapter, foreign_adapter

__all__ = [
    "SCORE_CHUNK",
    "ModelAdapter",
    "NumpyScoreAdapter",
    "OnnxAdapter",
    "ReconstructionAdapter",
    "ScoreAdapter",
    "SklearnAdapter",
    "foreign_adapter",
    "model_device",
    "score_in_chunks",
]
