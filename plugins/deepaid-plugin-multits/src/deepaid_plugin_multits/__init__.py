"""DeepAID for multivariate time series: explain alerts of next-vector predictors (LSTM).

A sample is a window ``[W + 1, D]``: W context steps and the actual vector the model predicts.
"""

from deepaid_plugin_multits.adapters import AllStepsAdapter, LSTMPredictorAdapter, rnn_train_mode
from deepaid_plugin_multits.model import LSTMPredictor, cached_predictor, train_predictor
from deepaid_plugin_multits.preset import multits_interpreter, window_constraints
from deepaid_plugin_multits.synthetic import SyntheticSeries, make_multits
from deepaid_plugin_multits.windows import (
    check_series,
    sliding_windows,
    split_samples,
    training_pairs,
    window_end_steps,
    windows_at,
)

__all__ = [
    "AllStepsAdapter",
    "LSTMPredictor",
    "LSTMPredictorAdapter",
    "SyntheticSeries",
    "cached_predictor",
    "check_series",
    "make_multits",
    "multits_interpreter",
    "rnn_train_mode",
    "sliding_windows",
    "split_samples",
    "train_predictor",
    "training_pairs",
    "window_constraints",
    "window_end_steps",
    "windows_at",
]
