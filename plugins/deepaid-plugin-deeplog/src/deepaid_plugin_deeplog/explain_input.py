"""``deepaid explain deeplog``: log lines or key ids grouped into sessions, or key sequences, from a file.

What a row of the input is decides the sample (never the number of rows):

- a string column (``--columns line``, or the ``line`` of a ``.log``/``.txt`` file): raw log lines, turned
  into key ids by the drain3 parser saved at training time (``--option parser=parser.json``, written by
  ``LogKeyParser.save``) and grouped into sessions, one record per session;
- an integer column: key ids, one per row, grouped into sessions the same way;
- a column of integer lists: one sample per row, a window and its next key (``W + 1`` keys), or a whole
  session with ``--option unit=sessions``.

Sessions are named by ``--id-column`` (e.g. the block id) or, for raw lines without one, by the ids that
``--option session_pattern=REGEX`` finds in each line (default: HDFS block ids; a line naming several
belongs to each). Sessions need the whole file, so they are *staged*: one pass parses and groups the
lines (it holds one key and one session number per line, not the text) and writes one row per session
in order of first appearance; the job then explains the sessions in chunks and resumes like any job.
A session is explained by the fewest replace/insert/delete edits, at most ``--k``, that make every
window normal (``DeepLogInterpreter.interpret_sessions``).
"""

from __future__ import annotations

import pathlib
import re
import warnings
from typing import Any, Sequence

import numpy as np

from deepaid_plugin_deeplog.edits import SessionBatch
from deepaid_plugin_deeplog.parsing import HDFS_BLOCK_ID, PAD_KEY, UNKNOWN_KEY, LogKeyParser
from deepaid_sdk.explain.inputs import STAGED_NAME, Chunk, ExplainInput, Staged
from deepaid_sdk.explain.records import RECORD_COLUMNS, records_table
from deepaid_sdk.explain.sources import LINE_COLUMN, Source, feature_matrix, sequence_columns
from deepaid_sdk.progress import progress, progress_enabled

UNITS = ("windows", "sessions")
#: Sessions per row block of the staged file.
STAGE_BLOCK = 65_536


def _string_columns(schema: Any) -> list[str]:
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


class LogSessionInput(ExplainInput):
    """DeepLog samples from a file: sessions of log lines or key ids, or rows of key sequences."""

    name = "deeplog"
    reads_lines = True  # raw log lines
    options = ("parser", "session_pattern", "unit")
    accepts_normal = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        unit = self.config.get("unit")
        if unit is not None and unit not in UNITS:
            raise ValueError(f"unit: expected one of {UNITS}; got {unit!r}")
        pattern = self.config.get("session_pattern", HDFS_BLOCK_ID)
        try:
            self.session_re = re.compile(str(pattern))
        except re.error as exc:
            raise ValueError(f"session_pattern: not a valid regex ({exc})") from None
        self.mode = "windows"
        self._by_column = False
        self._parser: LogKeyParser | None = None

    # -- the detector ------------------------------------------------------------------------------
    @property
    def parser(self) -> LogKeyParser | None:
        """The saved drain3 parser of ``--option parser=FILE`` (loaded once), or None."""
        if self._parser is None and self.config.get("parser") is not None:
            self._parser = LogKeyParser.load(self.config["parser"])
        return self._parser

    def preset_options(self) -> dict[str, Any]:
        """With a parser: its templates (named in the records) and its reserved pad and unknown keys."""
        if self.parser is None:
            return {}
        return {"templates": self.parser.templates, "pad_key": PAD_KEY, "unknown_key": UNKNOWN_KEY}

    def __getstate__(self) -> dict[str, Any]:
        # Ray ships the input to its workers: the parser is re-read there from its file.
        return {**self.__dict__, "_parser": None}

    # -- the file ----------------------------------------------------------------------------------
    def select(self, schema: Any, columns: Sequence[str] | None, id_column: str | None) -> list[str]:
        names = list(schema.names)
        if id_column is not None and id_column not in names:
            raise ValueError(f"id_column: no column {id_column!r} in the input; columns: {names}")
        if columns:
            if len(columns) != 1:
                raise ValueError(
                    f"columns: the deeplog input reads one column (log lines, key ids or key "
                    f"sequences); got {list(columns)}"
                )
            column = columns[0]
            if column not in names:
                raise ValueError(f"columns: not in the input: {[column]}; columns: {names}")
        else:
            text = [c for c in _string_columns(schema) if c != id_column]
            if LINE_COLUMN in text or len(text) == 1:
                column = LINE_COLUMN if LINE_COLUMN in text else text[0]
            else:
                raise ValueError(
                    f"columns: name the column of log lines, key ids or key sequences with --columns; columns: {names}"
                )
        field = schema.field(column)
        import pyarrow as pa

        if column in _string_columns(schema):
            self.mode = "lines"
            if self.config.get("parser") is None:
                raise ValueError(
                    "parser: raw log lines need the drain3 parser saved at training time: pass "
                    "--option parser=FILE (written by LogKeyParser.save)"
                )
            self.parser  # noqa: B018 - load it now: a bad file is an error before any work
        elif pa.types.is_integer(field.type):
            self.mode = "keys"
            if id_column is None:
                raise ValueError(
                    "id_column: key ids, one per row, are grouped into sessions by --id-column; "
                    "pass the column that names each row's session"
                )
        elif column in sequence_columns(schema):
            self.mode = "sessions" if self.config.get("unit") == "sessions" else "windows"
        else:
            raise ValueError(
                f"columns: {column!r} holds {field.type}; expected log lines (strings), key ids "
                "(integers) or key sequences (lists of integers)"
            )
        if self.mode in ("lines", "keys") and self.config.get("unit") == "windows":
            raise ValueError(
                "unit: rows of log lines or key ids make sessions; unit=windows needs a column of key sequences"
            )
        return [column]

    def stage(
        self, source: Source, columns: list[str], id_column: str | None, folder: pathlib.Path, quiet: bool
    ) -> Staged | None:
        """Group the lines (or keys) into sessions and write one row per session (see the module docstring)."""
        if self.mode not in ("lines", "keys"):
            return None
        staged = Staged(folder / STAGED_NAME, ("keys",), "session")
        if staged.path.is_file():  # written whole, then renamed: a resumed job reuses it
            return staged
        index: dict[str, int] = {}
        owners: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        counts = {"unmatched": 0, "orphans": 0, "lines": 0}
        self._by_column = id_column is not None
        total = source.count_rows() if progress_enabled(quiet) else None  # a pass over the file: only for a bar
        with progress(total=total, desc="group sessions", unit="line", quiet=quiet) as bar:
            for table in source.chunks():
                owner, key = self._chunk_sessions(table, columns[0], id_column, index, counts)
                owners.append(owner)
                keys.append(key)
                bar.update(table.num_rows)
        if not index:
            raise ValueError(
                f"input: no session found in {str(source.path)!r} ({counts['lines']} lines; "
                f"{counts['orphans']} hold no session id)"
            )
        self._warn(counts)
        _write_sessions(staged.path, list(index), np.concatenate(owners), np.concatenate(keys))
        return staged

    def _chunk_sessions(
        self, table: Any, column: str, id_column: str | None, index: dict[str, int], counts: dict[str, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Session numbers and key ids of one chunk's lines (a line in several sessions counts in each)."""
        first = counts["lines"]
        counts["lines"] += table.num_rows
        col = table.column(column)
        if col.null_count:
            row = first + int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"input: row {row}: column {column!r} is empty")
        if self.mode == "lines":
            lines = col.to_pylist()
            with warnings.catch_warnings():  # counted over the whole file and warned about once
                warnings.simplefilter("ignore", UserWarning)
                key = self.parser.transform(lines)  # type: ignore[union-attr]
            counts["unmatched"] += int((key == UNKNOWN_KEY).sum())
        else:
            key = feature_matrix(table, [column], np.arange(first, first + table.num_rows))[:, 0]
            if (key != np.round(key)).any():
                raise ValueError(f"input: column {column!r} holds fractions; expected key ids")
            key = key.astype(np.int64)
        if id_column is not None:
            ids = table.column(id_column).to_pylist()
            rows = np.asarray([i for i, v in enumerate(ids) if v is not None], dtype=np.int64)
            owner = np.asarray([index.setdefault(str(ids[i]), len(index)) for i in rows.tolist()], dtype=np.int64)
        else:
            pairs = [(i, sid) for i, line in enumerate(lines) for sid in dict.fromkeys(self.session_re.findall(line))]
            if any(not isinstance(sid, str) for _, sid in pairs[:1]):
                raise ValueError("session_pattern: use non-capturing groups (?:...); findall returned tuples")
            rows = np.asarray([i for i, _ in pairs], dtype=np.int64)
            owner = np.asarray([index.setdefault(sid, len(index)) for _, sid in pairs], dtype=np.int64)
        counts["orphans"] += table.num_rows - len(np.unique(rows))
        return owner, key[rows]

    def _warn(self, counts: dict[str, int]) -> None:
        if counts["unmatched"]:
            warnings.warn(
                f"{counts['unmatched']} of {counts['lines']} log lines matched no template of the "
                f"parser; they are key {UNKNOWN_KEY} <unknown> in their sessions",
                stacklevel=3,
            )
        if counts["orphans"]:
            how = "an --id-column value" if self._by_column else f"a session id matching {self.session_re.pattern!r}"
            warnings.warn(
                f"{counts['orphans']} of {counts['lines']} lines hold no session id ({how}); they "
                "belong to no session and have no record",
                stacklevel=3,
            )

    @property
    def unit(self) -> str:  # type: ignore[override]
        return "row" if self.mode == "windows" else "session"

    def start(self, interpreter: Any, source: Source, columns: list[str]) -> None:
        if self.mode == "windows":
            super().start(interpreter, source, columns)

    # -- the records -------------------------------------------------------------------------------
    def sentence(self, record: dict[str, Any], normal: Any = None) -> str | None:
        """Windows: the core's sentence; sessions: the flagged keys and the edits, with their templates."""
        from deepaid_plugin_deeplog.sentences import session_sentence

        return super().sentence(record, normal) if self.mode == "windows" else session_sentence(record)

    def to_records(self, interpreter: Any, chunk: Chunk) -> Any:
        """Windows: the core's records; sessions: one record per session, its edits in ``details``."""
        if self.mode == "windows":
            return super().to_records(interpreter, chunk)
        from deepaid_sdk.explain.chunk import chunk_ids, plain_ids

        table, full = chunk.table, chunk.full
        ids = plain_ids(chunk_ids(table, chunk.id_column, chunk.first_row))
        col = table.column(chunk.columns[0]).combine_chunks()
        offsets = col.offsets.to_numpy()
        flat = col.values.to_numpy(zero_copy_only=False).astype(np.int64)
        sessions = [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        num_keys = interpreter.adapter.num_keys
        bad = [i for i, s in enumerate(sessions) if s.size == 0 or s.min() < 0 or s.max() >= num_keys]
        if bad:
            s = sessions[bad[0]]
            raise ValueError(
                f"input: session id={ids[bad[0]]!r}: "
                + (
                    "has no keys"
                    if s.size == 0
                    else f"key ids must lie in [0, {num_keys}) (the model's keys); got {int(s.min())}..{int(s.max())}"
                    " (was the parser saved with the model it was trained for?)"
                )
            )
        batch = interpreter.interpret_sessions(sessions)
        return records_table(np.asarray(ids), *session_records(batch, full=full))


def ranked_edits(result: Any) -> list[Any]:
    """A session's edits, most important first: those that fix the most flags, then by position."""
    return sorted(result.edits, key=lambda e: (-len(e.fixes), e.position))


def edit_name(edit: Any) -> str:
    """How a record's ``changed`` names an edit: ``replace at 12``."""
    return f"{edit.kind} at {edit.position}"


def session_records(batch: SessionBatch, *, full: bool = False) -> tuple[dict[str, list[Any]], list[dict[str, Any]]]:
    """Explain-job record columns of session interpretations, and each record's ``details``.

    ``score`` counts the keys the model did not expect (``threshold`` 0: a session alerts when one key
    is flagged), ``reference_score`` those left after the edits; ``changed`` names each edit
    (``replace at 12``), the ones that fix the most flags first, with the old and new keys as
    values (null where an insert has no old key or a delete no new one); ``steps`` are search rounds.
    ``details`` hold what an analyst reads beside the record: each edit with its templates and the
    flags it fixes, and the flagged positions before and after; how ambiguous the explanation is
    (``alternatives``: distinct single edits that make the session normal, the reported one included;
    0 when none does), the edited session's ``log_likelihood`` (null unless one edit made it normal) and
    the ``next_best`` single edits with theirs.
    """
    out: dict[str, list[Any]] = {name: [] for name in RECORD_COLUMNS if name != "id"}  # the core's record
    if full:
        out["reference"] = []
    details = []
    for r in batch:  # result assembly: a few edits per session
        edits = ranked_edits(r)
        out["score"].append(float(len(r.flagged)))
        out["reference_score"].append(float(len(r.remaining)))
        out["threshold"].append(0.0)
        out["alert"].append(bool(r.flagged))
        out["flipped"].append(r.flipped)
        out["changed"].append([edit_name(e) for e in edits])
        out["anomaly_values"].append([None if e.old_key is None else float(e.old_key) for e in edits])
        out["reference_values"].append([None if e.new_key is None else float(e.new_key) for e in edits])
        out["steps"].append(int(r.rounds))
        if full:
            out["reference"].append(r.edited.astype(np.float64).tolist())
        details.append(
            {
                "verdict": "session",
                "keys": int(len(r.session)),
                "flagged": list(r.flagged),
                "remaining": list(r.remaining),
                "changes": [change_record(e) for e in edits],
                "alternatives": int(r.alternatives),
                "log_likelihood": r.log_likelihood,
                "next_best": [change_record(e) for e in r.next_best],
            }
        )
    return out, details


def change_record(e: Any) -> dict[str, Any]:
    """One session edit as the records' ``details`` hold it."""
    return {
        "op": e.kind,
        "position": e.position,
        "anomaly_key": e.old_key,
        "reference_key": e.new_key,
        "anomaly_template": e.old_template,
        "reference_template": e.new_template,
        "fixes": list(e.fixes),
        "log_likelihood": e.log_likelihood,
    }


def _write_sessions(path: pathlib.Path, ids: list[str], owner: np.ndarray, keys: np.ndarray) -> None:
    """One row per session (``session``, ``keys``, ``lines``), in order of first appearance, written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    order = np.argsort(owner, kind="stable")  # session numbers follow first appearance
    lengths = np.bincount(owner, minlength=len(ids))
    ends = np.cumsum(lengths)
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(
        tmp, pa.schema([("session", pa.string()), ("keys", pa.list_(pa.int64())), ("lines", pa.int64())])
    ) as writer:
        for start in range(0, len(ids), STAGE_BLOCK):
            stop = min(start + STAGE_BLOCK, len(ids))
            lo = 0 if start == 0 else int(ends[start - 1])
            offsets = np.concatenate([[0], ends[start:stop] - lo]).astype(np.int32)
            values = keys[order[lo : int(ends[stop - 1])]]
            writer.write_table(
                pa.table(
                    {
                        "session": ids[start:stop],
                        "keys": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
                        "lines": lengths[start:stop],
                    }
                )
            )
    tmp.replace(path)
