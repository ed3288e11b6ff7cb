"""The routes: ``POST /v1/explain``, ``GET /v1/model``, ``/healthz``, ``/readyz``, ``/metrics``.

Errors answer JSON ``{"error": ...}`` with no traceback: 400 (a body that is not JSON, a bad feature),
401 (token), 413 (body or alerts over the limits), 422 (the body's shape), 503 (queue full, with
``Retry-After``), 504 (the request's timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, AsyncIterator

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from deepaid_sdk.serve.batching import Batcher, QueueFull
from deepaid_sdk.serve.engine import ServeModel
from deepaid_sdk.serve.metrics import Metrics
from deepaid_sdk.serve.security import Limits

log = logging.getLogger("deepaid.serve.access")


class Alert(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    id: str | int
    features: dict[str, float]


class ExplainRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    alerts: list[Alert]


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


def make_app(
    model: ServeModel,
    limits: Limits | None = None,
    max_batch: int = 64,
    max_wait_ms: float = 2.0,
    max_queue: int = 4096,
) -> FastAPI:
    """The FastAPI app serving ``model``."""
    limits = limits or Limits()
    metrics = Metrics()
    batcher = Batcher(model.records, max_batch, max_wait_ms, max_queue, on_batch=metrics.batch.observe)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="deepaid serve", lifespan=lifespan)
    _access(app, limits, metrics)
    _info_routes(app, model, batcher, metrics)
    _explain_route(app, model, batcher, metrics, limits)
    return app


def _access(app: FastAPI, limits: Limits, metrics: Metrics) -> None:
    """The token check, the metrics of every request and its JSON access log line (no feature values)."""

    @app.middleware("http")
    async def access(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        route = request.url.path
        try:
            if route not in ("/healthz", "/readyz") and not limits.authorized(request.headers.get("authorization")):
                response: Response = _error(401, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
                response.headers["WWW-Authenticate"] = "Bearer"
            else:
                response = await call_next(request)
        except Exception as exc:  # a bug: logged, never shown to the client
            logging.getLogger("deepaid.serve").exception("internal error")
            response = _error(500, f"internal error ({type(exc).__name__})")
        seconds = time.perf_counter() - started
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(seconds)
        log.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": route,
                    "status": response.status_code,
                    "ms": round(seconds * 1000, 3),
                    "client": request.client.host if request.client else None,
                }
            )
        )
        return response


def _info_routes(app: FastAPI, model: ServeModel, batcher: Batcher, metrics: Metrics) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        return {"status": "ready", "queued": batcher.queued}

    @app.get("/v1/model")
    async def describe() -> dict[str, Any]:
        return model.describe()

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.queue.set(batcher.queued)
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")


def _explain_route(app: FastAPI, model: ServeModel, batcher: Batcher, metrics: Metrics, limits: Limits) -> None:
    body_schema = {"content": {"application/json": {"schema": ExplainRequest.model_json_schema()}}, "required": True}

    @app.post("/v1/explain", openapi_extra={"requestBody": body_schema})
    async def explain(request: Request, format: str = "records") -> Response:
        try:
            if format not in ("records", "ocsf"):
                raise _Refused(400, f"format: expected records or ocsf; got {format!r}")
            batcher.arriving += 1
            try:
                alerts = _alerts(await _body(request, limits.max_body_bytes), limits.max_alerts)
                rows = model.check(alerts)
            except ValueError as exc:
                raise _Refused(400, str(exc)) from None
            finally:
                batcher.arriving -= 1
            ids = [a["id"] for a in alerts]
            try:
                records = await asyncio.wait_for(batcher.submit(rows, ids), limits.timeout_s) if ids else []
            except QueueFull as exc:
                raise _Refused(503, f"busy: {exc}; retry later", {"Retry-After": "1"}) from None
            except asyncio.TimeoutError:
                raise _Refused(504, f"timeout: not explained within {limits.timeout_s:g} s") from None
            except ValueError as exc:
                raise _Refused(400, str(exc)) from None
        except _Refused as exc:
            return _error(exc.status, str(exc), exc.headers)
        metrics.alerts.inc(len(records))
        if format == "ocsf":
            return JSONResponse({"findings": model.findings(records)})
        return JSONResponse({"records": records})


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refused(413, f"body: {declared} bytes; at most {limit}")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise _Refused(413, f"body: more than {limit} bytes")
    return bytes(data)


def _alerts(body: bytes, max_alerts: int) -> list[dict[str, Any]]:
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Refused(400, f"body: not JSON ({exc})") from None
    if isinstance(raw, dict) and isinstance(raw.get("alerts"), list) and len(raw["alerts"]) > max_alerts:
        raise _Refused(413, f"alerts: {len(raw['alerts'])} in one request; at most {max_alerts}")
    try:
        parsed = ExplainRequest.model_validate(raw)
    except pydantic.ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise _Refused(422, f"body: {where}") from None
    return [a.model_dump() for a in parsed.alerts]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
