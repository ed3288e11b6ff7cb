"""Results as data (``data``), and the views over them: text tables (``views``), plots (``plotting``,
``heatmap``; extra ``plot``)."""

from deepaid_sdk.results.data import Interpretation, InterpretationBatch, json_value
from deepaid_sdk.results.views import feature_label

__all__ = ["Interpretation", "InterpretationBatch", "feature_label", "json_value"]
