"""The ``deepaid serve`` sub-command: explain's model, threshold and option flags, the server's own."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from deepaid_sdk.explain.command import (
    add_feature_arguments,
    add_model_arguments,
    add_option_arguments,
    add_threshold_arguments,
    columns_of,
    detection_options,
    model_args_of,
)


def add_parser(sub: Any) -> None:
    """Add ``serve`` to the ``deepaid`` sub-command parsers."""
    p = sub.add_parser(
        "serve",
        help="serve explanations over HTTP (POST /v1/explain) for alert pipelines",
        description='Serve the records of `deepaid explain` over HTTP: POST /v1/explain {"alerts": [{"id", '
        '"features"}]}; GET /healthz, /readyz, /v1/model, /metrics; OpenAPI at /docs. Binds loopback by default.',
    )
    add_model_arguments(p)
    add_threshold_arguments(p)
    add_feature_arguments(p)
    add_option_arguments(p)
    p.add_argument("--full", action="store_true", help="add the whole reference to each record")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    p.add_argument("--token-file", default=None, metavar="FILE", help="requests need Authorization: Bearer <token>")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without --token-file")
    p.add_argument("--max-batch", type=int, default=64, metavar="N", help="alerts per interpreter call (default 64)")
    p.add_argument("--max-wait-ms", type=float, default=2.0, metavar="MS", help="wait to fill a batch (default 2)")
    p.add_argument("--max-queue", type=int, default=4096, metavar="N", help="alerts waiting before 503 (default 4096)")
    p.add_argument("--max-alerts", type=int, default=256, metavar="N", help="alerts per request (default 256)")
    p.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES", help="body size (default 1 MiB)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per-request timeout (default 30 s)")


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """The app and its limits from parsed arguments (the model built, nothing bound)."""
    from deepaid_sdk.explain.spec import ExplainSpec
    from deepaid_sdk.serve.app import make_app
    from deepaid_sdk.serve.engine import ServeModel
    from deepaid_sdk.serve.security import Limits, check_bind, read_token

    token = None if args.token_file is None else read_token(args.token_file)
    check_bind(args.host, token, args.insecure)
    for name in ("max_batch", "max_queue", "max_alerts", "max_body"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive number; got {getattr(args, name)}")
    spec = ExplainSpec(
        preset=args.preset,
        model=args.model,
        **detection_options(args, model_args_of(args), columns_of(args)),
    )
    model = ServeModel.load(spec, args.schema)
    limits = Limits(args.max_body, args.max_alerts, args.timeout, token)
    return make_app(model, limits, args.max_batch, args.max_wait_ms, args.max_queue), limits


def run(args: argparse.Namespace) -> int:
    """Build the model, then serve until SIGTERM / Ctrl-C (in-flight requests finish; exit 0)."""
    import uvicorn

    app, _ = build(args)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    config = uvicorn.Config(
        app, host=args.host, port=args.port, access_log=False, log_level="info", timeout_graceful_shutdown=30
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the handler it found:
    # a no-op one, so a stop asked for by SIGTERM (systemd, docker stop) exits 0.
    previous = signal.signal(signal.SIGTERM, lambda number, frame: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
