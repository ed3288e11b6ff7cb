"""How ``deepaid explain`` meets a preset's detector: the model, the samples of a file, their records.

``ExplainInput`` is the default for every preset: a sample is one row (or a window of rows, for a detector
of windows), the model comes from ``load_model``. A plugin whose samples are not rows (DeepLog sessions
grouped from log lines, GL-GV edges named by their endpoints) subclasses it and registers the class under
its preset's name (``register_explain_inputs``). Its own ``--option`` keys (``options``) are taken out
before the preset sees the rest.

An input that must see the whole file before its first sample (sessions spread over the file) *stages*
it: one pass writes its samples, one per row, to a Parquet file in the job's parts folder, and the job
then reads that file in chunks like any other input, so resume and the Ray engine work unchanged.
"""

from __future__ import annotations

import pathlib
from typing import Any, Sequence

import attrs

from deepaid_sdk.explain.layout import Layout
from deepaid_sdk.explain.sources import Source, row_width, select_columns
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.registry import registry

#: The staged file's name inside the job's parts folder.
STAGED_NAME = "staged.parquet"


@attrs.frozen
class Staged:
    """Samples written by ``ExplainInput.stage``: the file (one sample per row), its columns and id column."""

    path: pathlib.Path
    columns: tuple[str, ...]
    id_column: str | None


class ExplainInput:
    """One sample per row, or a window of ``W`` rows for a detector of windows ``[W, D]``.

    Subclasses override what differs: ``load_model`` (a detector that is not one ``nn.Module``),
    ``select`` (which columns), ``stage`` (samples that need the whole file), ``to_records`` (the records
    of one ``Chunk``).
    """

    name = "rows"
    options: tuple[str, ...] = ()
    """``--option`` keys this input takes; the others go to the preset."""
    accepts_normal = True
    """Whether ``--normal`` rows (same columns) calibrate the threshold."""
    unit = "row"
    """What one record stands for, in the summary and the progress bar (``session``, ``edge``)."""
    reads_lines = False
    """Whether a ``.log``/``.txt`` file (read as one ``line`` column) is an input this preset takes."""

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"options: the {self.name} input takes {list(self.options)}; got {unknown}")
        self.config = dict(options)
        self.layout = Layout()

    # -- the detector ------------------------------------------------------------------------------
    def load_model(self, spec: Any) -> Any:
        """The detector the preset is given (default: an ``nn.Module`` from ``load_model``)."""
        from deepaid_sdk.explain.models import load_model

        return load_model(
            spec.model,
            model_args=spec.model_args,
            weights=spec.weights,
            allow_pickle=spec.allow_pickle,
            device=spec.device,
        )

    def preset_options(self) -> dict[str, Any]:
        """Options this input gives the preset (a user's ``--option`` of the same name wins)."""
        return {}

    def others(self, options: dict[str, Any]) -> dict[str, Any]:
        """The ``--option`` values that are not this input's: the preset's."""
        return {key: value for key, value in options.items() if key not in self.options}

    def model_files(self) -> dict[str, Any]:
        """Files this input reads besides the model (fingerprinted for the resume check)."""
        return {
            key: value for key, value in self.config.items() if isinstance(value, str) and pathlib.Path(value).is_file()
        }

    # -- the file ----------------------------------------------------------------------------------
    def source(self, spec: Any, path: Any, chunk_rows: int, block_size: int) -> Source:
        """The input file as a ``Source``: a table file by default; an input that reads another kind of
        file (a packet capture) returns its own, and stages its samples from it."""
        return Source(path, chunk_rows, block_size=block_size)

    def select(self, schema: Any, columns: Sequence[str] | None, id_column: str | None) -> list[str]:
        """The input columns the samples are made of."""
        return select_columns(schema, list(columns) if columns else None, id_column)

    def stage(
        self, source: Source, columns: list[str], id_column: str | None, folder: pathlib.Path, quiet: bool
    ) -> Staged | None:
        """Write the samples to ``folder / STAGED_NAME`` when they need the whole file (default: they do not)."""
        return None

    def start(self, interpreter: Interpreter, source: Source, columns: list[str]) -> None:
        """Settle how rows become samples, once the interpreter is built (default: rows or windows)."""
        self.layout = Layout.of(interpreter.adapter.sample_shape, row_width(source, columns))

    @property
    def context(self) -> int:
        """Rows before a chunk that its first samples need (``W - 1`` for windows)."""
        return self.layout.context

    # -- the records -------------------------------------------------------------------------------
    def to_records(self, interpreter: Interpreter, chunk: Chunk) -> Any:
        """The records (``deepaid_sdk.explain.records``) of the samples of ``chunk.table``, a ``pyarrow.Table``."""
        from deepaid_sdk.explain.chunk import explain_chunk

        return explain_chunk(
            interpreter,
            chunk.table,
            chunk.columns,
            id_column=chunk.id_column,
            first_row=chunk.first_row,
            full=chunk.full,
            layout=self.layout,
            context_rows=chunk.context_rows,
        )

    def sentence(self, record: dict[str, Any], normal: Any = None) -> str | None:
        """The plain-language sentence of one record (a dict of its columns, ``details`` parsed), built only
        from its numbers and ``normal`` (``sentences.NormalStats``, or None without ``--normal`` rows).

        Default: a record of features (``sentences.feature_sentence``). An input whose records are not
        features words its own (DeepLog's edits with their templates, GL-GV's edges); None leaves it empty.
        """
        from deepaid_sdk.explain.sentences import feature_sentence

        return feature_sentence(record, normal)


@attrs.frozen
class Chunk:
    """One chunk of input rows and where it sits in the file: what ``ExplainInput.to_records`` explains."""

    table: Any
    """The rows, a ``pyarrow.Table`` (with ``context_rows`` rows of the previous chunk first, for windows)."""
    columns: tuple[str, ...] = attrs.field(converter=lambda names: tuple(names))
    """The feature columns, in the detector's order."""
    id_column: str | None = None
    first_row: int = 0
    """The input row number of the table's first row (ids default to it)."""
    context_rows: int = 0
    full: bool = False
    """Records carry the whole anomaly and reference, not only the changed features."""


def explain_input(preset: str, options: dict[str, Any]) -> ExplainInput:
    """The input registered for ``preset`` (default ``ExplainInput``), built with its own ``options``."""
    reg = registry()
    cls = reg.get("explain_inputs", preset).factory if preset in reg.names("explain_inputs") else ExplainInput
    return cls(**{key: value for key, value in options.items() if key in cls.options})
