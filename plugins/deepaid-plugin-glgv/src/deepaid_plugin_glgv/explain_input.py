"""``deepaid explain glgv``: files of alert edges, explained by a saved GL-GV detector and its graph.

The detector is two files: ``--model`` (what ``GLGV.save`` wrote: embeddings, link classifier and
threshold, a weights-only state dict) and ``--option graph=FILE`` (the edge list it was trained on,
``time src dst``, ``src dst time`` or ``src dst`` lines, which fixes the node ids of the embeddings). The
input is a table of edges (columns ``src`` and ``dst``, or the two named by ``--columns``) or a
``.txt``/``.log`` edge list (any of those orders), staged once to Parquet so that its records are
numbered by line, resume and run on Ray. Each file's column order is detected from its first event line
unless declared (``--option order=...`` for the input, ``--option graph_order=...`` for the graph).
An edge with an endpoint the training graph does not hold is reported, not refused: its record has
``alert`` true, no score (the detector has no embedding for the node) and ``details.status``
``"unseen-node"`` with the nodes and the reason.
"""

from __future__ import annotations

import itertools
import os
import pathlib
from typing import Any, Iterator, Sequence

import attrs
import numpy as np

from deepaid_plugin_glgv.edge_list import check_order, malformed_lines, parse_edge_lines
from deepaid_plugin_glgv.graph import KINDS, AuthGraph
from deepaid_sdk.explain.chunk import chunk_ids, plain_ids
from deepaid_sdk.explain.inputs import STAGED_NAME, Chunk, ExplainInput, Staged
from deepaid_sdk.explain.records import records_table
from deepaid_sdk.explain.sources import LINE_COLUMN, Source
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.progress import progress

#: The two endpoints of an edge, as records name them in ``changed`` (and the default input columns).
ENDPOINTS = ("src", "dst")
#: Lines of a text edge list parsed (and staged) at a time: bounds memory, whatever the file's size.
STAGE_LINES = 65_536
#: What the graph search's ``details`` add to a record's (names, kinds, hops, the path to the reference).
SEARCH_DETAILS = ("found", "judged_normal", "hops", "path", "levels_searched")
_DELIMITERS = {"\\t": "\t", "tab": "\t"}


class EdgeListInput(ExplainInput):
    """One record per login edge ``(src, dst)``, explained by the nearest edge the detector judges normal.

    Options: ``graph`` (required: the training edge list), ``delimiter`` (of the edge-list fields;
    default any whitespace, or commas for a ``.csv`` graph), ``order`` and ``graph_order`` (the column
    order of a text input and of the graph: ``time src dst``, ``src dst time`` or ``src dst``; default
    detected from the first event line, an ambiguous line is an error asking for the option). The
    threshold is the detector's own (``--threshold`` overrides it); ``--normal`` rows are refused. An
    endpoint that is not a node of the training graph gets a record with ``details.status``
    ``"unseen-node"`` (no score: the detector has no embedding for it), not an error.
    """

    name = "glgv"
    reads_lines = True  # 'time src dst' edge lists
    options = ("graph", "delimiter", "order", "graph_order")
    accepts_normal = False
    unit = "edge"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        graph = self.config.get("graph")
        if graph is None:
            raise ValueError(
                "graph: the glgv input needs the edge list the detector was trained on: pass "
                "--option graph=FILE (a 'time src dst' text file)"
            )
        if not isinstance(graph, (str, os.PathLike)):
            raise TypeError(f"graph: expected the path of the training edge list; got {type(graph).__name__} {graph!r}")
        if not pathlib.Path(graph).is_file():
            raise ValueError(
                f"graph: no such file {str(graph)!r} (--option graph=FILE: the edge list the detector was trained on)"
            )
        delimiter = self.config.get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
            raise ValueError(
                f"delimiter: expected a non-empty string (the edge-list field separator); got {delimiter!r}"
            )
        self.graph_path = pathlib.Path(graph)
        self.delimiter = _DELIMITERS.get(delimiter, delimiter) if delimiter is not None else None
        self.order = check_order(self.config.get("order"))
        self.graph_order = check_order(self.config.get("graph_order"))

    # -- the detector ------------------------------------------------------------------------------
    def load_graph(self) -> AuthGraph:
        """The training graph from ``--option graph``: node names, ids and edges of the detector."""
        return AuthGraph.from_edge_list(self.graph_path, delimiter=self.delimiter, order=self.graph_order)

    def load_model(self, spec: Any) -> Any:
        """The ``GLGV`` of ``--model`` (the weights-only state dict ``GLGV.save`` wrote) on the training graph.

        Refused, each naming what to pass: ``--weights``/``--model-args`` (a file holds the whole
        detector), a model that is not a file or not a GLGV state dict, embeddings that do not fit the graph.
        """
        import torch

        from deepaid_plugin_glgv.detector import GLGV, STATE_KEYS

        wrote = "--model is the file GLGV.save wrote (embeddings, classifier and threshold)"
        if spec.weights is not None:
            raise ValueError(
                f"weights: the glgv input takes no --weights; {wrote}; got --weights {str(spec.weights)!r}"
            )
        if spec.model_args:
            raise ValueError(f"model_args: the glgv input takes no --model-args; {wrote}; got {spec.model_args!r}")
        if spec.allow_pickle:
            raise ValueError(f"allow_pickle: the glgv input reads weights only; {wrote}")
        if not isinstance(spec.model, (str, os.PathLike)) or not pathlib.Path(spec.model).is_file():
            raise ValueError(f"model: expected a file; {wrote}; got {spec.model!r}")
        try:
            state = torch.load(spec.model, map_location="cpu", weights_only=True)
        except Exception as exc:  # not a torch file, or one that needs unpickling
            raise ValueError(
                f"model: cannot read {str(spec.model)!r} as a weights-only state dict "
                f"({type(exc).__name__}: {exc}); {wrote}"
            ) from None
        keys = STATE_KEYS  # checked before the graph is read: a wrong --model fails fast
        if not isinstance(state, dict) or not keys <= set(state):
            got = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"model: {str(spec.model)!r} is not a GLGV state dict (expected {sorted(keys)}; got {got}); {wrote}"
            )
        graph = self.load_graph()
        try:
            return GLGV.from_state_dict(graph, state, device=spec.device)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(
                f"model: {str(spec.model)!r} does not fit the graph of --option graph="
                f"{str(self.graph_path)!r} ({graph.num_nodes} nodes): {exc}; pass the edge list the "
                "detector was trained on"
            ) from None

    def model_files(self) -> dict[str, Any]:
        """The training graph: a changed graph file is a different job for the resume check."""
        return {"graph": str(self.graph_path)}

    # -- the file ----------------------------------------------------------------------------------
    def select(self, schema: Any, columns: Sequence[str] | None, id_column: str | None) -> list[str]:
        """The endpoint columns: ``src``/``dst``, or the two ``columns`` given; ``line`` for a text edge list."""
        names = list(schema.names)
        if names == [LINE_COLUMN]:  # a .txt/.log file: ``stage`` parses it
            if columns:
                raise ValueError(
                    f"columns: a text edge list (src dst lines, with or without a time) has no columns to choose; "
                    f"--columns is for tables; got {list(columns)}"
                )
            if id_column is not None:
                raise ValueError(
                    f"id_column: a text edge list has no id column (its records are numbered by "
                    f"line, from 1); got {id_column!r}"
                )
            return [LINE_COLUMN]
        chosen = list(columns) if columns else list(ENDPOINTS)
        if len(chosen) != 2:
            raise ValueError(
                f"columns: expected two columns, the source and destination node names "
                f"(--columns SRC DST); got {len(chosen)}: {chosen}"
            )
        missing = [c for c in chosen if c not in names]
        if missing:
            raise ValueError(
                f"columns: no column {missing} in the input (the endpoints: 'src' 'dst' by default, "
                f"others with --columns SRC DST); columns: {names}"
            )
        if id_column is not None and id_column not in names:
            raise ValueError(f"id_column: no column {id_column!r} in the input; columns: {names}")
        return chosen

    def stage(
        self, source: Source, columns: list[str], id_column: str | None, folder: pathlib.Path, quiet: bool
    ) -> Staged | None:
        """A text edge list as Parquet (``line``, ``src``, ``dst``): once, chunk by chunk, atomically."""
        if source.format != "lines":
            return None
        target = pathlib.Path(folder) / STAGED_NAME
        if not target.is_file():  # a resumed job reuses the file its first run staged
            stage_edge_list(source.path, target, self.delimiter, quiet=quiet, order=self.order)
        return Staged(target, ENDPOINTS, LINE_COLUMN)

    def start(self, interpreter: Interpreter, source: Source, columns: list[str]) -> None:
        """One sample per edge: nothing to settle (names are not numbers to measure a row's width from)."""
        from deepaid_plugin_glgv.adapters import EdgeAdapter

        if not isinstance(interpreter.adapter, EdgeAdapter):
            raise TypeError(
                f"preset: the glgv input needs an interpreter with an EdgeAdapter; got "
                f"{type(interpreter.adapter).__name__}"
            )

    # -- the records -------------------------------------------------------------------------------
    def to_records(self, interpreter: Interpreter, chunk: Chunk) -> Any:
        """The records of the edges of the chunk: one batch through the interpreter, names in ``details``;
        edges touching a node the training graph lacks get an ``unseen-node`` record instead."""
        graph: AuthGraph = interpreter.adapter.graph  # type: ignore[attr-defined]
        table = chunk.table
        ids = plain_ids(chunk_ids(table, chunk.id_column, chunk.first_row))
        names = np.stack([_endpoint_names(table, c, ids) for c in chunk.columns], axis=1)
        pos, known = self.node_ids(graph, names)
        seen = known.all(axis=1)
        if seen.all():
            batch = attrs.evolve(interpreter.interpret_batch(pos), feature_names=list(ENDPOINTS))
            return records_table(ids, batch.records(full=chunk.full), edge_record_details(graph, batch))
        records, details = unseen_records(names, known, float(interpreter.adapter.threshold), chunk.full)
        if seen.any():
            batch = attrs.evolve(interpreter.interpret_batch(pos[seen]), feature_names=list(ENDPOINTS))
            rows = np.flatnonzero(seen)
            for column, values in batch.records(full=chunk.full).items():
                for row, value in zip(rows.tolist(), values):
                    records[column][row] = value
            for row, entry in zip(rows.tolist(), edge_record_details(graph, batch)):
                details[row] = entry
        return records_table(ids, records, details)

    def sentence(self, record: dict[str, Any], normal: Any = None) -> str | None:
        """The login, its score, and the nearest login the detector accepts (``sentences.edge_sentence``)."""
        from deepaid_plugin_glgv.sentences import edge_sentence

        return edge_sentence(record)

    def node_ids(self, graph: AuthGraph, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[B, 2]`` node ids of endpoint ``names`` and whether each is a node of the graph (ids of
        unknown names are meaningless)."""
        pos = np.minimum(np.searchsorted(graph.names, names), graph.num_nodes - 1)
        return pos.astype(np.int64), graph.names[pos] == names


#: ``details.status`` of a record: explained (an alert searched), normal (no alert), unseen-node.
STATUSES = ("explained", "normal", "unseen-node")


def unseen_records(
    names: np.ndarray, known: np.ndarray, threshold: float, full: bool
) -> tuple[dict[str, list[Any]], list[dict[str, Any]]]:
    """Column-wise records and details of every row as an ``unseen-node`` record (rows with both
    endpoints known are overwritten by the caller): an alert without a score or a reference."""
    n = names.shape[0]
    records: dict[str, list[Any]] = {
        "score": [None] * n,
        "reference_score": [None] * n,
        "threshold": [threshold] * n,
        "alert": [True] * n,
        "flipped": [False] * n,
        "changed": [[] for _ in range(n)],
        "anomaly_values": [[] for _ in range(n)],
        "reference_values": [[] for _ in range(n)],
        "steps": [0] * n,
    }
    if full:
        records["reference"] = [None] * n
    details = []
    for row in range(n):  # result assembly: one small dict per record
        unseen = [str(x) for x, ok in zip(names[row].tolist(), known[row].tolist()) if not ok]
        details.append(
            {
                "status": "unseen-node",
                "anomaly_edge": names[row].tolist(),
                "unseen_nodes": list(dict.fromkeys(unseen)),
                "reason": "no training edge touches these nodes, so the detector has no embedding to score "
                "the login with; a login of a new account or to a new host is new by itself",
                "found": False,
                "judged_normal": False,
            }
        )
    return records, details


def edge_record_details(graph: AuthGraph, batch: Any) -> list[dict[str, Any]]:
    """Per record: the alert's and the reference's endpoint names and kinds, hops and the path between them.

    A row that is no alert is its own reference (0 hops, no path, ``found`` false: nothing was searched).
    """
    anomalies = np.asarray(batch.anomalies, dtype=np.int64)
    references = np.asarray(batch.references, dtype=np.int64)
    kinds = np.asarray(KINDS)
    a_names, r_names = graph.names[anomalies].tolist(), graph.names[references].tolist()
    a_kinds, r_kinds = kinds[graph.kinds[anomalies]].tolist(), kinds[graph.kinds[references]].tolist()
    found: tuple[dict[str, Any], ...] = batch.details or ({},) * len(batch)
    out = []
    for i, searched in enumerate(found):  # result assembly: one small dict per record
        entry: dict[str, Any] = {
            "status": "explained" if bool(batch.alerts[i]) else "normal",
            "anomaly_edge": a_names[i],
            "reference_edge": r_names[i],
            "anomaly_kinds": a_kinds[i],
            "reference_kinds": r_kinds[i],
            "found": False,
            "judged_normal": bool(batch.flipped[i]),
            "hops": 0,
            "path": [],
            "levels_searched": 0,
        }
        entry.update({k: searched[k] for k in SEARCH_DETAILS if k in searched})
        out.append(entry)
    return out


def stage_edge_list(
    path: pathlib.Path,
    target: pathlib.Path,
    delimiter: str | None,
    *,
    quiet: bool = True,
    lines_per_chunk: int = STAGE_LINES,
    order: str | None = None,
) -> int:
    """Parse the edge-list lines of ``path`` into ``target`` (Parquet: ``line``, ``src``, ``dst``).

    ``order`` is the column order (see ``edge_list``); None detects it from the first event line and
    keeps it for the whole file.

    ``line`` is the 1-based line number in the file (blank and ``#`` lines are skipped, so it is not the
    row number). Memory holds one chunk of lines; every malformed line is counted and the first ten
    named. The file is written under a temporary name and renamed. Returns the number of edges.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(LINE_COLUMN, pa.int64()), (ENDPOINTS[0], pa.string()), (ENDPOINTS[1], pa.string())])
    tmp = target.with_name(target.name + ".tmp")
    bad: list[str] = []
    n_bad = edges = 0
    try:
        with (
            open(path, encoding="utf-8") as handle,
            pq.ParquetWriter(tmp, schema) as writer,
            progress(desc="reading edges", unit="line", quiet=quiet) as bar,
        ):
            for first, lines in _line_chunks(handle, lines_per_chunk):
                numbers, _, src, dst, wrong, order = parse_edge_lines(lines, delimiter, first=first, order=order)
                n_bad += len(wrong)
                bad += wrong[: max(0, 10 - len(bad))]
                if not n_bad and numbers.size:
                    writer.write_table(pa.table([numbers, src.astype(object), dst.astype(object)], schema=schema))
                edges += int(numbers.size)
                bar.update(len(lines))
        if n_bad:
            raise ValueError(f"input: {str(path)!r}: {malformed_lines(bad, n_bad, order)}")
        if not edges:
            raise ValueError(f"input: {str(path)!r} holds no edge (every line blank or a '#' comment)")
        os.replace(tmp, target)
    except UnicodeDecodeError as exc:
        raise ValueError(f"input: {str(path)!r} is not UTF-8 text ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return edges


def _line_chunks(handle: Any, size: int) -> Iterator[tuple[int, list[str]]]:
    """``(number of the first line, up to size lines)`` of an open text file, in order."""
    first = 1
    while lines := list(itertools.islice(handle, size)):
        yield first, lines
        first += len(lines)


def _endpoint_names(table: Any, column: str, ids: np.ndarray) -> np.ndarray:
    """``[rows]`` node names of one endpoint column (text, or whole numbers written as text)."""
    import pyarrow as pa

    col = table.column(column)
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"input: record id={ids[row]!r}: column {column!r} is empty (expected a node name)")
    if pa.types.is_floating(col.type):
        values = col.to_numpy()
        fractional = values != np.round(values)
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise ValueError(
                f"input: record id={ids[row]!r}: column {column!r} holds {values[row]}; expected a "
                "node name (text or a whole number)"
            )
        return values.astype(np.int64).astype(str)
    return np.asarray(col.cast(pa.string()).to_pylist(), dtype=str)
