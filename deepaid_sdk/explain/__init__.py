"""``deepaid explain``: explain every row of a user's file with a user's model, streamed and resumable.

``explain_file(preset, model, input, output, ...)`` is the Python API, the keyword form of
``run_job(ExplainSpec(...), ExplainJob(...), Engine(...))``; ``deepaid explain`` the command.
Modules: ``sources`` (input files in chunks), ``sinks`` (output files), ``records`` (the output schema),
``models`` (loading a detector without pickle), ``spec`` (the job's options), ``manifest`` (resume),
``chunk`` (the per-chunk function), ``job`` (the local loop), ``ray_engine`` (Ray Data), ``command`` (CLI).
"""

from deepaid_sdk.explain.job import Engine, ExplainJob, ExplainSummary, explain_file, run_job
from deepaid_sdk.explain.models import ModelLoadError, load_model
from deepaid_sdk.explain.records import RECORD_COLUMNS, RecordField
from deepaid_sdk.explain.spec import ExplainSpec

__all__ = [
    "Engine",
    "ExplainJob",
    "ExplainSpec",
    "ExplainSummary",
    "ModelLoadError",
    "RECORD_COLUMNS",
    "RecordField",
    "explain_file",
    "load_model",
    "run_job",
]
