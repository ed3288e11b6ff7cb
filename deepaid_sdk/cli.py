"""The ``deepaid`` command line: plugins, demos, benchmarks, ``explain`` (a user's files), distill and triage."""

from __future__ import annotations

import argparse
import inspect
import json
import pathlib
import sys
import warnings
from typing import Any, Sequence

from deepaid_sdk import __version__
from deepaid_sdk.presets import preset
from deepaid_sdk.registry import RegistryError, registry


class _Parser(argparse.ArgumentParser):
    """argparse that fails with one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"deepaid: error: {message}\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deepaid", description="Explain alerts of deep anomaly detectors (DeepAID).")
    parser.add_argument("--version", action="version", version=f"deepaid-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    plugins = sub.add_parser("plugins", help="list discovered plugins and their components")
    plugins.add_argument("--json", action="store_true", help="print JSON")

    reg = registry()
    demo = sub.add_parser(
        "demo",
        help="run a demo end to end on synthetic data",
        description="Run a demo end to end on synthetic data. Demos: " + ", ".join(reg.names("demos")) + ".",
    )
    demo.add_argument(
        "name",
        nargs="?",
        default="tabular",
        help=f"demo to run, one of: {', '.join(reg.names('demos'))} (default: tabular)",
    )
    demo.add_argument("--out", default="deepaid-out", help="folder for plots and files (default: deepaid-out)")

    bench = sub.add_parser("bench", help="measure explanation quality and speed")
    bench.add_argument("name", help=f"benchmark to run, one of: {', '.join(reg.names('benchmarks'))}")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument("--n", type=int, default=None, help="number of anomalies")
    bench.add_argument("--seed", type=int, default=0, help="random seed")
    bench.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="torch device")
    bench.add_argument("--out", default="deepaid-out", help="folder for the chart (default: deepaid-out)")
    bench.add_argument("--pcap", default=None, help="a packet capture, for benchmarks that read one (kitsune)")
    bench.add_argument("--labels", default=None, help="the capture's attack segments (CSV), with --pcap")
    distill = sub.add_parser("distill", help="distil rules from explained alerts and analyst verdicts")
    distill.add_argument("--interpretations", required=True, help="explanation records (JSON lines or JSON)")
    distill.add_argument("--verdicts", required=True, help="verdicts: JSON lines {id, verdict}, CSV or one per line")
    distill.add_argument("--output", required=True, help="rules file to write (JSON)")
    distill.add_argument("--normal", default=None, help="normal rows (.npy or .csv with header) for the intervals")
    distill.add_argument("--feature-names", default=None, help="file with one feature name per line")
    distill.add_argument("--states", default=None, help="registered state extractor (default: intervals)")
    distill.add_argument("--mode", choices=("path", "fsm"), default="path", help="rule matching (default: path)")
    distill.add_argument("--min-score", type=float, default=None, help="least confidence of a verdict")

    triage = sub.add_parser("triage", help="label explained alerts with distilled rules (suppressed, not dropped)")
    triage.add_argument("--interpretations", required=True, help="explanation records (JSON lines or JSON)")
    triage.add_argument("--rules", required=True, help="rules file written by deepaid distill")
    triage.add_argument("--output", default=None, help="JSON-lines file to write (default: stdout)")

    from deepaid_sdk.explain.command import add_parser as add_explain

    add_explain(sub)
    from deepaid_sdk.serve.command import add_parser as add_serve

    add_serve(sub)
    return parser


def _distill(args: argparse.Namespace) -> int:
    from deepaid_sdk.distill.distiller import Distiller
    from deepaid_sdk.distill.files import read_records, read_verdicts, states_for, triage_records, write_jsonl

    records = read_records(args.interpretations)
    if args.command == "triage":
        write_jsonl(triage_records(records, args.rules), args.output)
        return 0
    verdicts = read_verdicts(args.verdicts, records)
    states = states_for(records, normal=args.normal, feature_names=args.feature_names, states=args.states)
    options = {} if args.min_score is None else {"min_score": args.min_score}
    distiller = Distiller(states, mode=args.mode, **options).fit(records, verdicts)
    pathlib.Path(args.output).write_text(distiller.to_json())
    print(distiller.to_text())
    print(f"wrote {len(distiller.rules)} rules to {args.output}")
    return 0


def _plugins(as_json: bool) -> int:
    reg = registry()
    data = reg.to_dict()
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    for plugin in data["plugins"]:
        dist = f" ({plugin['distribution']})" if plugin["distribution"] else ""
        print(f"{plugin['name']}{dist}")
        for kind, names in plugin["components"].items():
            if names:
                print(f"  {kind}: {', '.join(names)}")
    print("\npresets (deepaid_sdk.create(name, model=..., **options); help(preset_factory(name)) for details):")
    for name in reg.names("interpreters"):
        recipe = preset(name)
        print(f"  {name}: {recipe.doc}")
        print("    options: " + ", ".join(f"{k}={v}" for k, v in recipe.defaults().items()))
        if name in reg.names("explain_inputs"):
            reader = reg.get("explain_inputs", name).factory
            doc = (inspect.getdoc(reader) or "").split("\n")[0]
            print(f"    deepaid explain input: {doc} --option {', '.join(reader.options) or '(none)'}")
    for failure in data["failures"]:
        print(f"FAILED {failure['plugin']}: {failure['error']}")
    return 0


def _one_line_warning(
    message: Any, category: type, filename: str, lineno: int, file: Any = None, line: str | None = None
) -> None:
    sys.stderr.write(f"deepaid: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    try:
        if args.command == "plugins":
            return _plugins(args.json)
        if args.command == "demo":
            run = registry().get("demos", args.name).factory
            out = pathlib.Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            return int(run(out) or 0)
        if args.command in ("distill", "triage"):
            return _distill(args)
        if args.command == "bench":
            if args.n is not None and args.n < 1:
                raise ValueError(f"--n: expected a positive number of anomalies; got {args.n}")
            factory = registry().get("benchmarks", args.name).factory
            files = {key: getattr(args, key) for key in ("pcap", "labels") if getattr(args, key) is not None}
            report = factory(n=args.n, seed=args.seed, device=args.device, out=pathlib.Path(args.out), **files)
            print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
            return 0
        if args.command == "explain":
            from deepaid_sdk.explain.command import run as run_explain

            return run_explain(args)
        if args.command == "serve":
            from deepaid_sdk.serve.command import run as run_serve

            return run_serve(args)
    except (RegistryError, ValueError, TypeError, ImportError, OSError) as exc:
        # A user's mistake (a bad file, option or model): one line, no traceback. Bugs raise other types.
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in message:
            message = f"{message} ({exc.filename})"
        sys.stderr.write(f"deepaid {args.command}: error: {message}\n")
        return 2
    return 0  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
