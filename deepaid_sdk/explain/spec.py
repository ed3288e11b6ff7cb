"""What an explain job is: the detector, the files and the options, and how they become an interpreter.

``ExplainSpec`` is plain, picklable data: the local loop builds the interpreter from it once, and each
Ray worker builds its own from the same spec, so every engine explains with the same interpreter.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Sequence

import attrs
import numpy as np

from deepaid_sdk.checks import check_finite_number, check_positive_int, table_columns
from deepaid_sdk.explain.inputs import ExplainInput, explain_input
from deepaid_sdk.explain.models import model_fingerprint
from deepaid_sdk.explain.sources import fingerprint, input_format
from deepaid_sdk.interpreter import Interpreter
from deepaid_sdk.presets import create, preset


def _path_or_none(value: Any) -> pathlib.Path | None:
    return None if value is None else pathlib.Path(value)


@attrs.frozen
class ExplainSpec:
    """Everything that decides the output of an explain job (engine and progress settings aside)."""

    preset: str
    """Interpreter preset (``tabular``, ``gradient``, ...)."""
    model: Any
    """``package.module:factory``, a model file (TorchScript, ``.pt2``, ``.onnx``), or an ``nn.Module``."""
    weights: pathlib.Path | None = attrs.field(default=None, converter=_path_or_none)
    model_args: dict[str, Any] = attrs.field(factory=dict)
    allow_pickle: bool = False
    threshold: float | None = None
    normal: Any = None
    """Normal rows to calibrate the threshold: a file (same columns) or an array / DataFrame."""
    percentile: float = 99.0
    k: int | None = None
    id_column: str | None = None
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=lambda v: None if v is None else tuple(v))
    batch_size: int = 1024
    full: bool = False
    options: dict[str, Any] = attrs.field(factory=dict)
    """Preset options (``--option key=value``)."""
    device: str = "cpu"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.preset, str) or not self.preset:
            raise TypeError(f"preset: expected a preset name; got {self.preset!r}")
        check_positive_int(self.batch_size, "batch_size")
        if self.threshold is not None:
            check_finite_number(self.threshold, "threshold")
        if self.threshold is not None and self.normal is not None:
            raise ValueError("threshold: pass either threshold or normal rows to calibrate it, not both")
        if not 0.0 < float(self.percentile) <= 100.0:
            raise ValueError(f"percentile: expected a value in (0, 100]; got {self.percentile}")
        if self.k is not None:
            check_positive_int(self.k, "k")
        if not isinstance(self.model_args, dict):
            raise TypeError(f"model_args: expected a dict (JSON object); got {type(self.model_args).__name__}")
        if not isinstance(self.options, dict):
            raise TypeError(f"options: expected a dict; got {type(self.options).__name__}")

    def normal_rows(self, columns: Sequence[str]) -> np.ndarray | None:
        """The normal rows as ``[N, len(columns)]`` float64 (read whole: they are for calibration)."""
        if self.normal is None:
            return None
        if isinstance(self.normal, (str, os.PathLike)):
            import pyarrow as pa

            from deepaid_sdk.explain.sources import Source, feature_matrix

            source = Source(self.normal, 65536, name="normal")
            tables = list(source.chunks())
            if not tables:
                raise ValueError(f"normal: {str(self.normal)!r} has no rows")
            table = pa.concat_tables(tables)
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise ValueError(f"normal: the normal rows lack the columns {missing}")
            try:
                return feature_matrix(table, list(columns), np.arange(table.num_rows), "normal")
            except ValueError as exc:  # name the file: the row numbers count its data rows from 0
                raise ValueError(f"normal: {str(self.normal)!r}: {str(exc).removeprefix('normal: ')}") from None
        names = table_columns(self.normal)
        if names is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise ValueError(f"normal: the normal rows lack the columns {missing}")
            return np.asarray(
                self.normal[list(columns)].to_numpy()
                if hasattr(self.normal, "iloc")
                else self.normal.select(list(columns)).to_pandas().to_numpy(),
                dtype=np.float64,
            )
        return np.asarray(self.normal, dtype=np.float64)

    def input(self) -> ExplainInput:
        """The preset's explain input, built with its own options."""
        return explain_input(self.preset, self.options)

    def check_options(self, reader: ExplainInput) -> None:
        """Every ``--option`` key is the preset's or its input's; else a ValueError listing what they take."""
        recipe = preset(self.preset)
        try:
            recipe.check(reader.others(self.options), self.preset, where="option")
        except TypeError as exc:
            own = f"; its explain input takes {', '.join(reader.options)}" if reader.options else ""
            raise ValueError(f"{exc}{own}") from None

    def build(self, columns: Sequence[str], reader: ExplainInput | None = None) -> Interpreter:
        """The interpreter for feature ``columns``: the preset, offered what its factory accepts."""
        reader = reader or self.input()
        if self.normal is not None and not reader.accepts_normal:
            raise ValueError(
                f"normal: the {self.preset} input calibrates no threshold from normal rows; "
                "pass --threshold or leave the detector's own"
            )
        model = reader.load_model(self)
        recipe = preset(self.preset)
        opts = {**reader.preset_options(), **reader.others(self.options)}
        if self.k is not None:
            opts["k"] = self.k
        if self.threshold is not None:
            opts["threshold"] = float(self.threshold)
        normal = self.normal_rows(columns)
        # What the preset declares the job may fill: the normal rows, the percentile, the column names
        # (they name the features, and constraints may name columns), their count.
        offered = {
            "normal": normal,
            "percentile": float(self.percentile),
            "columns": list(columns),
            "width": len(columns),
        }
        if normal is None:
            offered = {key: value for key, value in offered.items() if key not in ("normal", "percentile")}
        for fill, value in offered.items():
            option = recipe.filled(fill)
            if option is not None and option.name not in opts:
                opts[option.name] = value
        interpreter = create(self.preset, model=model, **opts)
        if not interpreter.adapter.has_threshold:
            if normal is None:
                raise ValueError("threshold: pass --threshold T, or --normal FILE (normal rows) to calibrate it")
            interpreter.adapter.calibrate(normal, float(self.percentile))
        return interpreter

    def fingerprint(
        self, columns: Sequence[str], output_format: str, fields: Sequence[Any] = (), reader: ExplainInput | None = None
    ) -> dict[str, Any]:
        """JSON-safe record of every option that changes the output, for the resume check.

        ``fields`` (record fields) count by their ``fingerprint`` attribute where they have one (the
        Distiller's rules: a hash of the rules), else by name.
        """
        normal: Any = None
        if isinstance(self.normal, (str, os.PathLike)):
            normal = fingerprint(self.normal)
        elif self.normal is not None:
            import hashlib

            arr = self.normal_rows(columns)
            normal = {"array_blake2b": hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).hexdigest()}
        data = {
            "preset": self.preset,
            "model": model_fingerprint(self.model, self.weights),
            "model_args": self.model_args,
            "threshold": self.threshold,
            "normal": normal,
            "percentile": float(self.percentile),
            "k": self.k,
            "id_column": self.id_column,
            "columns": list(columns),
            "batch_size": self.batch_size,
            "full": self.full,
            "options": self.options,
            "device": self.device,
            "output_format": output_format,
            "input_files": {key: fingerprint(path) for key, path in (reader or self.input()).model_files().items()},
            "fields": [getattr(f, "fingerprint", getattr(f, "__qualname__", type(f).__name__)) for f in fields],
        }
        return json.loads(json.dumps(data, default=str))


def check_input(path: Any) -> pathlib.Path:
    """The input path, checked to exist and to have a known format."""
    p = pathlib.Path(path)
    input_format(p)
    if not p.is_file():
        raise ValueError(f"input: no such file {str(p)!r}")
    return p
