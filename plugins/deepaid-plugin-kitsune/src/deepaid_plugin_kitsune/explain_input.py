"""``deepaid explain kitsune``: AfterImage rows from a table, or a packet capture streamed to its alerts.

A capture (``.pcap``, ``.pcapng``, ``.cap``) is staged in one bounded-memory pass: packets -> AfterImage
-> KitNET scores, keeping the packets KitNET scores above the threshold (``--threshold``, else the
model's own) with their packet number as id. The job then explains those alerts in chunks with its
manifest, so a resumed job skips the chunks done and reuses the staged alerts. A model file is a
KitNET saved with ``KitNET.save``. Tables of AfterImage rows are read as by every other preset.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Sequence

from deepaid_plugin_kitsune.kitnet import KitNET
from deepaid_plugin_kitsune.names import N_FEATURES, feature_names
from deepaid_plugin_kitsune.pcap_stream import CHUNK_PACKETS, PACKET_COLUMN, stage_alerts
from deepaid_sdk.explain.inputs import STAGED_NAME, ExplainInput, Staged
from deepaid_sdk.explain.sources import DEFAULT_BLOCK_SIZE, INPUT_FORMATS, Source


class CaptureSource(Source):
    """A packet capture where the job expects a table: its columns are KitNET's features (by name)."""

    def __init__(self, path: Any, chunk_rows: int, width: int, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        import pyarrow as pa

        self.path = pathlib.Path(path)
        self.name = "input"
        if not self.path.is_file():
            raise ValueError(f"input: no such file {str(self.path)!r}")
        self.format = "pcap"
        self.chunk_rows = int(chunk_rows)
        self.block_size = block_size
        self.floats: tuple[str, ...] = ()
        names = feature_names() if width == N_FEATURES else [f"f{i}" for i in range(width)]
        self._schema = pa.schema([(n, pa.float64()) for n in names])

    def like(self, chunk_rows: int | None = None, *, floats: Sequence[str] | None = None) -> Source:
        return self

    def count_rows(self) -> int | None:
        return None

    def chunks(self, skip_rows: int = 0) -> Any:
        raise ValueError(f"input: {str(self.path)!r} is a capture: its alerts are staged first")


def _is_capture(path: Any) -> bool:
    return str(path).lower().endswith(INPUT_FORMATS["pcap"])


class KitsuneInput(ExplainInput):
    """AfterImage rows (tables) or a packet capture streamed through AfterImage and KitNET."""

    name = "kitsune"
    options = ("chunk_packets",)
    """``chunk_packets``: packets per AfterImage chunk of a capture (memory; the rows do not change)."""
    unit = "row"

    def load_model(self, spec: Any) -> Any:
        """A KitNET saved with ``KitNET.save`` (a state dict, no pickle), or whatever ``--model`` names."""
        if isinstance(spec.model, (str, os.PathLike)) and pathlib.Path(spec.model).is_file():
            return KitNET.load(pathlib.Path(spec.model), map_location=spec.device or "cpu")
        return super().load_model(spec)

    def source(self, spec: Any, path: Any, chunk_rows: int, block_size: int) -> Source:
        if not _is_capture(path):
            return super().source(spec, path, chunk_rows, block_size)
        self._spec = spec
        model = self.load_model(spec)
        if not isinstance(model, KitNET):
            raise TypeError(f"model: a capture is scored by KitNET; got {type(model).__name__}")
        self._model = model
        self.unit = "alert"
        return CaptureSource(path, chunk_rows, model.width, block_size)

    def stage(
        self, source: Source, columns: list[str], id_column: str | None, folder: pathlib.Path, quiet: bool
    ) -> Staged | None:
        """The capture's alerts with their features (see the module docstring); None for a table."""
        if not isinstance(source, CaptureSource):
            return None
        staged = Staged(folder / STAGED_NAME, tuple(columns), PACKET_COLUMN)
        if staged.path.is_file():  # written whole, then renamed: a resumed job reuses it
            return staged
        threshold = self._spec.threshold
        threshold = float(self._model.threshold) if threshold is None else float(threshold)
        chunk = self.config.get("chunk_packets", CHUNK_PACKETS)
        if isinstance(chunk, str) and chunk.isdigit():
            chunk = int(chunk)
        stage_alerts(source.path, self._model, threshold, staged.path, chunk_packets=chunk, quiet=quiet)
        return staged
