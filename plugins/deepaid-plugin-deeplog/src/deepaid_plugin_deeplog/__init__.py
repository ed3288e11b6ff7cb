"""deepaid-plugin-deeplog: explain DeepLog alerts on log-key sequences with DeepAID.

DeepLog (an LSTM over one-hot log keys that predicts the next key; alert when the next key is
outside its top-g guesses), drain3 template mining and session grouping, synthetic workflow logs
with ground truth, and the ``deeplog`` interpreter preset: for each alert, the fewest key
replacements (in the window, or of the next key) that the model accepts; and for whole sessions,
``interpret_sessions``: the fewest replace/insert/delete edits that make every window normal.
"""

from deepaid_plugin_deeplog.adapters import DeepLogAdapter, topg_margin
from deepaid_plugin_deeplog.detection import DetectionMetrics, Windows, detect, make_windows, session_metrics
from deepaid_plugin_deeplog.edits import SessionBatch, SessionEdit, SessionInterpretation, apply_edits, undo_edits
from deepaid_plugin_deeplog.model import DeepLog, load_deeplog, save_deeplog, train_deeplog
from deepaid_plugin_deeplog.parsing import (
    HDFS_BLOCK_ID,
    HDFS_HEADER,
    PAD_KEY,
    UNKNOWN_KEY,
    LogKeyParser,
    ParsedLog,
    Sessions,
    group_sessions,
    parse_log_file,
)
from deepaid_plugin_deeplog.preset import DeepLogInterpreter, deeplog_interpreter
from deepaid_plugin_deeplog.search import DeepLogSearch
from deepaid_plugin_deeplog.sessions import SessionSearch
from deepaid_plugin_deeplog.synthetic import SyntheticLog, generate_workflow_logs
from deepaid_plugin_deeplog.views import batch_tables, plot_sequence, side_by_side

__all__ = [
    "DeepLog",
    "DeepLogAdapter",
    "DeepLogInterpreter",
    "DeepLogSearch",
    "DetectionMetrics",
    "HDFS_BLOCK_ID",
    "HDFS_HEADER",
    "LogKeyParser",
    "PAD_KEY",
    "ParsedLog",
    "SessionBatch",
    "SessionEdit",
    "SessionInterpretation",
    "SessionSearch",
    "Sessions",
    "SyntheticLog",
    "UNKNOWN_KEY",
    "Windows",
    "apply_edits",
    "batch_tables",
    "deeplog_interpreter",
    "detect",
    "generate_workflow_logs",
    "group_sessions",
    "load_deeplog",
    "make_windows",
    "parse_log_file",
    "plot_sequence",
    "save_deeplog",
    "session_metrics",
    "side_by_side",
    "topg_margin",
    "train_deeplog",
    "undo_edits",
]
