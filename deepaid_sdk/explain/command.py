"""The ``deepaid explain`` sub-command: arguments, parsing of ``--option``/``--model-args``, and the run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Add ``explain`` to the ``deepaid`` sub-command parsers."""
    p = sub.add_parser(
        "explain",
        help="explain every row of a file (CSV, Parquet, JSON lines) with your model",
        description="Explain every row of INPUT with preset PRESET and write one record per row to OUTPUT "
        "(.jsonl or .parquet). Resumable with --resume; --engine ray runs on Ray Data.",
    )
    add_model_arguments(p)
    p.add_argument("--input", required=True, metavar="FILE", help="rows to explain: .csv, .parquet or .jsonl")
    p.add_argument("--output", required=True, metavar="FILE", help="records: .jsonl or .parquet")
    p.add_argument(
        "--format",
        choices=("jsonl", "parquet", "ocsf"),
        default=None,
        help="jsonl or parquet records (default: by the --output extension), or ocsf: one OCSF 1.5 "
        "Detection Finding per alert, as JSON lines (.jsonl)",
    )
    _add_detection_arguments(p)
    _add_job_arguments(p)


def add_model_arguments(p: Any) -> None:
    """PRESET, --model, --model-args, --weights, --allow-pickle (``deepaid explain`` and ``deepaid serve``)."""
    p.add_argument("preset", help="interpreter preset (tabular, gradient, ...; see `deepaid plugins`)")
    p.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="package.module:factory (with --weights), or a TorchScript, .pt2 (torch.export) or .onnx file",
    )
    p.add_argument("--model-args", default=None, metavar="JSON", help="keyword arguments of the factory, as JSON")
    p.add_argument(
        "--weights", default=None, metavar="FILE", help="safetensors file or state dict (read with weights_only=True)"
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow a pickled nn.Module as --model (runs code from the file: trusted files only)",
    )


def add_threshold_arguments(p: Any) -> None:
    """--threshold or --normal with --percentile, and --k (``deepaid explain`` and ``deepaid serve``)."""
    threshold = p.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=float, default=None, metavar="T", help="alert threshold")
    threshold.add_argument(
        "--normal",
        default=None,
        metavar="FILE",
        help="normal rows (same columns) to calibrate the threshold at --percentile",
    )
    p.add_argument(
        "--percentile",
        type=float,
        default=99.0,
        metavar="P",
        help="percentile of the normal scores used as threshold (default 99)",
    )
    p.add_argument("--k", type=int, default=None, metavar="K", help="features a reference may change")


def add_feature_arguments(p: Any) -> None:
    """--columns and --schema: the detector's feature names (``deepaid explain`` and ``deepaid serve``)."""
    p.add_argument(
        "--columns",
        nargs="+",
        default=None,
        metavar="COL",
        help="feature columns in the model's order, taken by name (default: the schema's; without "
        "one, every numeric column but the id, in the input's order)",
    )
    p.add_argument(
        "--schema",
        default=None,
        metavar="FILE",
        help="the detector's feature names, in the model's order (JSON {\"names\": [...]}); default: "
        "WEIGHTS.schema.json beside --weights when present, else --normal's header",
    )


def add_option_arguments(p: Any) -> None:
    """--device and --option KEY=VALUE (``deepaid explain`` and ``deepaid serve``)."""
    p.add_argument("--device", default="cpu", help="torch device of the model (default cpu)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="preset or input option; VALUE is read as JSON where it parses (k=5, box=[0,1]), else a "
        "string; the deeplog input takes parser=FILE, session_pattern=REGEX, unit=windows|sessions, "
        "the glgv input graph=FILE (see `deepaid plugins`, explain_inputs)",
    )


def _add_detection_arguments(p: Any) -> None:
    """The threshold, the budget and how the input's columns are read."""
    add_threshold_arguments(p)
    add_feature_arguments(p)
    p.add_argument(
        "--id-column", default=None, metavar="COL", help="column giving each record's id (default: the row number)"
    )
    p.add_argument(
        "--strict-columns",
        action="store_true",
        help="refuse input columns that are not in the schema (default: name them and ignore them)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=1024,
        metavar="N",
        help="rows per chunk: bounds memory; each chunk is committed (default 1024)",
    )
    p.add_argument(
        "--block-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="bytes the CSV / JSON lines reader takes at once: at least the longest line (default 4 MiB)",
    )


def _add_job_arguments(p: Any) -> None:
    """How the job runs: records, resume, errors, engine, options, output."""
    p.add_argument("--full", action="store_true", help="add the whole reference to each record")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted job (same options; the input "
        "may differ only after the chunks already committed, e.g. a fixed row)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT (refused by default)")
    p.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="a row that cannot be explained stops the job (fail, default) or goes to "
        "OUTPUT.rejects.jsonl with its row number and reason (skip)",
    )
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="local loop (default) or Ray Data")
    p.add_argument("--ray-address", default=None, metavar="ADDR", help="Ray cluster (default: a local cluster)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="Ray actors, one interpreter each (default: the cluster's CPUs)",
    )
    add_option_arguments(p)
    p.add_argument(
        "--rules",
        default=None,
        metavar="FILE",
        help="rules from `deepaid distill`: add verdict, confidence, rule and suppressed to every record",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON where it parses, else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--option: expected KEY=VALUE; got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def model_args_of(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-args`` read as a JSON object ({} without it)."""
    model_args: dict[str, Any] = {}
    if args.model_args is not None:
        try:
            model_args = json.loads(args.model_args)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--model-args: expected a JSON object; {exc}") from None
        if not isinstance(model_args, dict):
            raise ValueError(f"--model-args: expected a JSON object; got {args.model_args!r}")
    return model_args


def columns_of(args: argparse.Namespace) -> list[str] | None:
    """``--columns`` (names, or comma-separated lists of them), None without it."""
    if not args.columns:
        return None
    return [c for arg in args.columns for c in arg.split(",") if c]


def run(args: argparse.Namespace) -> int:
    """Run the job from parsed arguments; print a one-line summary (or JSON)."""
    from deepaid_sdk.explain.job import explain_file

    model_args = model_args_of(args)
    columns = columns_of(args)
    try:
        summary = _explain(explain_file, args, model_args, columns)
    except KeyboardInterrupt:
        sys.stderr.write(
            "deepaid explain: interrupted; the chunks committed so far are kept: run the same "
            "command with --resume to continue\n"
        )
        return 130
    print(json.dumps(summary.to_dict()) if args.json else summary.text(), file=sys.stdout)
    return 0


def detection_options(args: argparse.Namespace, model_args: dict[str, Any], columns: Any) -> dict[str, Any]:
    """The model, threshold, budget, column and option flags every job built from these arguments shares."""
    return {
        "weights": args.weights,
        "model_args": model_args,
        "allow_pickle": args.allow_pickle,
        "threshold": args.threshold,
        "normal": args.normal,
        "percentile": args.percentile,
        "k": args.k,
        "columns": columns,
        "full": args.full,
        "options": dict(parse_option(o) for o in args.option),
        "device": args.device,
    }


def _explain(explain_file: Any, args: argparse.Namespace, model_args: dict[str, Any], columns: Any) -> Any:
    return explain_file(
        args.preset,
        args.model,
        args.input,
        args.output,
        **detection_options(args, model_args, columns),
        id_column=args.id_column,
        batch_size=args.batch_size,
        resume=args.resume,
        engine=args.engine,
        ray_address=args.ray_address,
        workers=args.workers,
        quiet=args.quiet,
        fields=_fields(args),
        schema=args.schema,
        strict_columns=args.strict_columns,
        overwrite=args.overwrite,
        on_error=args.on_error,
        format=args.format,
        **({} if args.block_size is None else {"block_size": args.block_size}),
    )


def _fields(args: argparse.Namespace) -> list[Any]:
    """Extra record columns: the Distiller's triage where ``--rules`` names a rules file."""
    if args.rules is None:
        return []
    from deepaid_sdk.distill.files import rules_field

    return [rules_field(args.rules)]
