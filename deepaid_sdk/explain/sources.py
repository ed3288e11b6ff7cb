"""Input files read in chunks with pyarrow: CSV, Parquet and JSON lines.

Chunks are cut at fixed row offsets (chunk ``i`` holds rows ``[i * size, (i + 1) * size)``) whatever
the reader's own block sizes, so a resumed job and every engine see the same chunks.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any, Iterator, Sequence

import numpy as np

from deepaid_sdk.optional import require

#: File extensions by input format.
INPUT_FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
    "lines": (".log", ".txt"),
    "pcap": (".pcap", ".pcapng", ".cap"),
}
#: The one column of a text file read as lines (``lines`` format): each non-blank line, as it is.
LINE_COLUMN = "line"
#: Bytes hashed at each of the start, middle and end of a file for its fingerprint.
FINGERPRINT_SPAN = 1 << 20
#: Bytes pyarrow reads per block of a CSV / JSON lines file: the longest line it can take (``--block-size``).
DEFAULT_BLOCK_SIZE = 1 << 22
#: Bytes looked at to tell a text file from a binary one.
SNIFF_BYTES = 1 << 14
#: Characters of a reader's message kept in an error (a bad value may be megabytes long).
MESSAGE_CHARS = 240


def short(text: Any) -> str:
    """A reader's message on one line, non-printable characters escaped, at most ``MESSAGE_CHARS`` long."""
    line = " ".join(str(text).split())
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS] + "..."


def check_text(path: pathlib.Path, fmt: str, name: str) -> None:
    """A CSV / JSON lines / log file must be text: an empty or binary file is a ValueError naming it."""
    if fmt == "parquet" or str(path).lower().endswith(".gz"):
        return
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise ValueError(
            f"{name}: {str(path)!r} is empty; expected a header line and rows"
            if fmt == "csv"
            else f"{name}: {str(path)!r} is empty; expected rows"
        )
    nul = head.find(b"\x00")
    if nul >= 0:
        kind = "log lines" if fmt == "lines" else fmt.upper()
        raise ValueError(
            f"{name}: {str(path)!r} is not a text file (a NUL byte at byte {nul}); expected {kind} "
            "text (is it a binary file renamed?)"
        )


def file_format(path: str | os.PathLike, formats: dict[str, tuple[str, ...]], name: str) -> str:
    """The format of ``path`` from its extension; a ValueError naming ``name`` and the known extensions."""
    lowered = str(path).lower()
    for fmt, extensions in formats.items():
        if lowered.endswith(extensions):
            return fmt
    known = ", ".join(e for exts in formats.values() for e in exts)
    raise ValueError(f"{name}: cannot tell the format of {str(path)!r}; expected one of {known}")


def input_format(path: str | os.PathLike) -> str:
    """``csv``, ``parquet``, ``jsonl`` or ``lines`` from the file name; a ValueError listing the known extensions."""
    return file_format(path, INPUT_FORMATS, "input")


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Size and a BLAKE2 hash of the first, middle and last MiB: a changed file is told apart cheaply."""
    p = pathlib.Path(path)
    size = p.stat().st_size
    digest = hashlib.blake2b(digest_size=16)
    with p.open("rb") as fh:
        for start in sorted({0, max(0, size // 2 - FINGERPRINT_SPAN // 2), max(0, size - FINGERPRINT_SPAN)}):
            fh.seek(start)
            digest.update(fh.read(FINGERPRINT_SPAN))
    return {"path": str(p.resolve()), "size": size, "blake2b": digest.hexdigest()}


def _record_batches(
    path: pathlib.Path,
    fmt: str,
    block_rows: int,
    floats: Sequence[str] = (),
    name: str = "input",
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[Any]:
    """The file's record batches; a reader's failure is a ValueError naming ``name``, the file and the cause."""
    import pyarrow as pa

    try:
        for batch in _read_batches(path, fmt, block_rows, floats, block_size):
            _ = batch.schema.names  # a header that is not UTF-8 fails here, not in a later table
            yield batch
    except UnicodeDecodeError:
        raise ValueError(
            f"{name}: cannot read {str(path)!r} as {fmt.upper()}: its column names are not UTF-8 "
            "text; save the file as UTF-8"
        ) from None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        text = str(exc)
        if "straddl" in text or "block size" in text.lower():
            raise ValueError(
                f"{name}: a line of {str(path)!r} is longer than the reader's block of {block_size} bytes; "
                f"pass --block-size (block_size=) of at least the longest line, e.g. "
                f"{max(block_size * 4, 1 << 24)}"
            ) from None
        raise ValueError(
            f"{name}: cannot read {str(path)!r} as {fmt.upper() if fmt != 'lines' else 'log lines'}: {short(text)}"
        ) from None


def _read_batches(
    path: pathlib.Path, fmt: str, block_rows: int, floats: Sequence[str], block_size: int
) -> Iterator[Any]:
    """The file's record batches, streamed (never the whole file in memory).

    ``floats`` are read as float64 in CSV and JSON lines, whose types are otherwise inferred from the first
    block (a column of whole numbers there and a fraction later would fail half-way through the file).
    """
    pa = require("pyarrow", "files")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # No pre-buffering: it reads a whole row group's column chunks ahead (90 MB more at 200,000 rows).
        with pq.ParquetFile(path, pre_buffer=False) as pf:
            yield from pf.iter_batches(batch_size=block_rows)
        return
    if fmt == "csv":
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=block_size),
            convert_options=pcsv.ConvertOptions(column_types={c: pa.float64() for c in floats}),
        )
    elif fmt == "lines":
        import pyarrow.csv as pcsv

        # One string column: no quote or escape character changes a line; the delimiter is the ASCII unit
        # separator (0x1f), which text logs do not hold.
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=block_size, column_names=[LINE_COLUMN]),
            parse_options=pcsv.ParseOptions(
                delimiter="\x1f", quote_char=False, escape_char=False, ignore_empty_lines=True
            ),
            convert_options=pcsv.ConvertOptions(column_types={LINE_COLUMN: pa.string()}),
        )
    else:
        import pyarrow.json as pjson

        parse = (
            pjson.ParseOptions(
                explicit_schema=pa.schema([(c, pa.float64()) for c in floats]), unexpected_field_behavior="infer"
            )
            if floats
            else None
        )
        reader = pjson.open_json(path, read_options=pjson.ReadOptions(block_size=block_size), parse_options=parse)
    with reader:
        for batch in reader:
            if not isinstance(batch, pa.RecordBatch):  # pragma: no cover - pyarrow always yields batches
                raise TypeError(f"input: unexpected block {type(batch).__name__}")
            yield batch


class Source:
    """One input file: its format, schema, and its rows in fixed-size chunks as ``pyarrow.Table``.

    A ``.log`` or ``.txt`` file is read as lines: one string column ``line``, blank lines skipped.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        chunk_rows: int,
        *,
        name: str = "input",
        block_size: int = DEFAULT_BLOCK_SIZE,
        floats: Sequence[str] = (),
    ) -> None:
        self.path = pathlib.Path(path)
        self.name = name
        """The argument the file came from (``input``, ``normal``): every error names it."""
        if self.path.is_dir():
            raise ValueError(f"{name}: {str(self.path)!r} is a directory; expected a file")
        if not self.path.is_file():
            raise ValueError(f"{name}: no such file {str(self.path)!r}")
        self.format = file_format(self.path, INPUT_FORMATS, name)
        if self.format == "pcap":
            raise ValueError(
                f"{name}: {str(self.path)!r} is a packet capture; this preset reads tables (CSV, Parquet, JSON "
                "lines): the kitsune preset reads captures"
            )
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1024:
            raise ValueError(f"block_size: expected a whole number of bytes >= 1024; got {block_size!r}")
        self.block_size = block_size
        check_text(self.path, self.format, name)
        self.chunk_rows = int(chunk_rows)
        self.floats: tuple[str, ...] = tuple(floats)
        """Columns read as float64 (the feature columns, once chosen)."""
        self._schema: Any = None

    @property
    def schema(self) -> Any:
        """The file's ``pyarrow.Schema`` (from the first block for CSV and JSON lines)."""
        if self._schema is None:
            if self.format == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                try:
                    self._schema = pq.read_schema(self.path)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise ValueError(f"{self.name}: cannot read {str(self.path)!r} as Parquet: {short(exc)}") from None
            else:
                first = next(self._batches(self.chunk_rows), None)
                if first is None:
                    raise ValueError(f"{self.name}: {str(self.path)!r} has no rows")
                self._schema = first.schema
        return self._schema

    def _batches(self, block_rows: int) -> Iterator[Any]:
        return _record_batches(self.path, self.format, block_rows, self.floats, self.name, self.block_size)

    def like(self, chunk_rows: int | None = None, *, floats: Sequence[str] | None = None) -> Source:
        """The same file, read the same way (name, block size, float columns unless ``floats``), in chunks of
        ``chunk_rows`` (default: the same). A new source: a ``Source`` is never changed once made."""
        return Source(
            self.path,
            self.chunk_rows if chunk_rows is None else chunk_rows,
            name=self.name,
            block_size=self.block_size,
            floats=self.floats if floats is None else floats,
        )

    def count_rows(self) -> int | None:
        """Rows in the file: exact for Parquet, counted by line ends for CSV/JSON lines (an estimate there)."""
        if self.format == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.path).metadata.num_rows)
        if str(self.path).endswith(".gz"):
            return None
        lines = 0
        last = b"\n"
        with self.path.open("rb") as fh:
            while block := fh.read(1 << 24):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"
        return max(0, lines - (1 if self.format == "csv" else 0))  # lines: blank lines make this an estimate

    def chunks(self, skip_rows: int = 0) -> Iterator[Any]:
        """``pyarrow.Table`` chunks of ``chunk_rows`` rows (the last may be shorter), after ``skip_rows``."""
        pa = require("pyarrow", "files")
        pending: list[Any] = []
        held = 0
        to_skip = int(skip_rows)
        for batch in self._batches(min(self.chunk_rows, 65536)):
            if to_skip:
                if batch.num_rows <= to_skip:
                    to_skip -= batch.num_rows
                    continue
                batch = batch.slice(to_skip)
                to_skip = 0
            pending.append(batch)
            held += batch.num_rows
            while held >= self.chunk_rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, self.chunk_rows).combine_chunks()
                rest = table.slice(self.chunk_rows)
                pending = rest.to_batches() if rest.num_rows else []
                held = rest.num_rows
        if held:
            yield pa.Table.from_batches(pending).combine_chunks()


def numeric_columns(schema: Any) -> list[str]:
    """Names of the integer and floating-point columns of a ``pyarrow.Schema``, in order."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]


def sequence_columns(schema: Any) -> list[str]:
    """Names of the columns of integer lists (a sequence of key ids per row), in order."""
    import pyarrow as pa

    return [
        f.name
        for f in schema
        if (pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_fixed_size_list(f.type))
        and pa.types.is_integer(f.type.value_type)
    ]


def select_columns(schema: Any, columns: list[str] | None, id_column: str | None) -> list[str]:
    """The feature columns: ``columns`` as given (each checked), or every numeric column but the id.

    A column of integer lists (key sequences) is taken when named; its values are the sample.
    """
    names = list(schema.names)
    if id_column is not None and id_column not in names:
        raise ValueError(f"id_column: no column {id_column!r} in the input; columns: {names}")
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"columns: not in the input: {missing}; columns: {names}")
        usable = set(numeric_columns(schema)) | set(sequence_columns(schema))
        bad = [c for c in columns if c not in usable]
        if bad:
            raise ValueError(f"columns: not numeric (nor lists of integers): {bad}")
        return list(columns)
    chosen = [c for c in numeric_columns(schema) if c != id_column]
    if not chosen:
        raise ValueError(
            f"columns: the input has no numeric column to explain (name a column of key sequences "
            f"with --columns); columns: {names}"
        )
    return chosen


def show_id(value: Any) -> str:
    """A record id as a user wrote it: numbers plain (``5``, not ``np.int64(5)``), text quoted."""
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, bytes):
        return repr(value.decode("utf-8", "backslashreplace"))
    return repr(value.item() if isinstance(value, np.generic) else value)


def _values(col: Any, name: str, ids: np.ndarray, argument: str = "input") -> np.ndarray:
    """One column as ``[rows, n]`` float64: n = 1 for numbers, the list length for sequences."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{argument}: row id={show_id(ids[row])}: column {name!r} is empty")
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type):
        flat = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        lengths = np.asarray(pc.list_value_length(flat).to_numpy(zero_copy_only=False))
        if lengths.size and (lengths != lengths[0]).any():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise ValueError(
                f"{argument}: row id={show_id(ids[row])}: column {name!r} holds {lengths[row]} values; the rows "
                f"before it hold {lengths[0]}"
            )
        values = flat.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
        return values.reshape(len(col), int(lengths[0]) if lengths.size else 0)
    return col.to_numpy().astype(np.float64, copy=False)[:, None]


def feature_matrix(table: Any, columns: list[str], ids: np.ndarray, argument: str = "input") -> np.ndarray:
    """``[rows, values]`` float64 of a chunk; a missing or non-finite value names ``argument``, its row id
    and column."""
    if not columns:
        raise ValueError(f"{argument}: no feature column to read (the table has {table.column_names})")
    parts = [_values(table.column(name), name, ids, argument) for name in columns]
    x = np.concatenate(parts, axis=1)
    owner = np.repeat(np.arange(len(columns)), [p.shape[1] for p in parts])
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"{argument}: row id={show_id(ids[row])}: column {columns[owner[col]]!r} is {x[row, col]} (not finite)"
        )
    return x


def row_width(source: Source, columns: list[str]) -> int:
    """Values per input row of ``columns`` (a sequence column counts its length), from the first row."""
    table = next(source.like(1).chunks(), None)
    if table is None:
        raise ValueError(f"input: {str(source.path)!r} has no rows")
    return int(feature_matrix(table, columns, np.arange(1)).shape[1])
