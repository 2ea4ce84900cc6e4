"""The FastAPI app factory every service uses: health, readiness, metrics, errors, request ids."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.api_docs import install_api_docs
from common.approval_requests import APPROVAL_ERRORS
from common.domain_errors import ErrorTable, install_domain_errors
from common.logging import configure_logging, describe_error, get_logger
from common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from common.pagination import CursorSeal
from common.problems import Problem, install_problem_handlers, problem_response
from common.request_limits import install_request_limits
from common.settings import ServiceSettings

if TYPE_CHECKING:
    from common.runtime import Runtime

log = get_logger("http")

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Starlette's own type of a router's lifespan (what a served app's is wrapped as).
AppLifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
S = TypeVar("S", bound=ServiceSettings)

# A caller-supplied request id longer than this is replaced, not echoed into every log line.
MAX_REQUEST_ID = 100


def serve(create_app: Callable[[S], FastAPI], settings_class: Callable[[], S]) -> None:
    """``python -m <service>``: settings from the environment, JSON logs, uvicorn."""
    settings = settings_class()
    configure_logging(settings.service_name, settings.log_level)
    app = create_app(settings)
    app.router.lifespan_context = _heap_settled_after(app.router.lifespan_context)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        # Our JSON logging stays in charge; the request middleware writes the access lines.
        log_config=None,
        access_log=False,
        # The per-address rate limit counts the client a trusted proxy names (request_limits).
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _heap_settled_after(inner: AppLifespan) -> AppLifespan:
    """Once a served process has started, what it built so far (modules, schemas, clients,
    caches) is moved out of the collector's sight: a full collection then walks only what
    requests and events left behind, instead of pausing every request for 70-100 ms to walk
    the whole heap again (measured in the registry under the search bench, issue 19)."""

    @asynccontextmanager
    async def settled(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    return settled


class _RequestContext:
    """Request id, access log line and HTTP metrics. Logs the route template, never the query.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs the app in a second task
    and streams the response through it, a fixed cost on every request that showed in the
    registry's search latency (issue 19)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        if len(request_id) > MAX_REQUEST_ID or not request_id.isprintable():
            request_id = uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            elapsed = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", "<unmatched>")
            HTTP_REQUESTS.labels(self._service, request.method, template, str(status)).inc()
            HTTP_LATENCY.labels(self._service, request.method, template).observe(elapsed)
            if template not in ("/healthz", "/metrics"):
                log.info(
                    "request",
                    method=request.method,
                    route=template,
                    status=status,
                    ms=round(elapsed * 1000, 1),
                )
            structlog.contextvars.unbind_contextvars("request_id")


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    lifespan: Lifespan,
    routers: Sequence[APIRouter],
    errors: ErrorTable | None = None,
    wire: Callable[[Runtime], None] | None = None,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """Build a service app; its lifespan registers readiness checks on ``app.state``.

    ``errors`` says which status each domain error answers with; ``wire`` is what the
    lifespan subscribes, kept so the service's contract can read it (``common.contracts``).
    ``body_limits`` names the routes (path templates) whose bodies may be larger than
    ``settings.max_body_bytes`` (uploads, batches), with their limits."""

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            app.state.started = True
            yield
        app.state.started = False

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=_lifespan,
        # Their pages come from install_api_docs below: FastAPI's own load from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_api_docs(app, title)
    app.state.settings = settings
    app.state.readiness = []
    app.state.started = False
    app.state.cursors = CursorSeal(
        settings.cursor_key_bytes(settings.pii_key), settings.service_name
    )
    install_request_limits(app, settings, body_limits or {})
    app.add_middleware(_RequestContext, service=settings.service_name)
    install_problem_handlers(app)
    for table in (APPROVAL_ERRORS, errors) if errors is not None else (APPROVAL_ERRORS,):
        install_domain_errors(app, table.base, table.statuses, default=table.default)
    app.state.wire = wire

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", tags=["ops"], summary="Kafka and the store are reachable")
    async def readyz(request: Request) -> Response:
        _inside_only(request)
        checks: dict[str, str] = {}
        ready = bool(app.state.started)
        named: list[tuple[str, ReadinessCheck]] = app.state.readiness
        for name, check in named:
            try:
                await check()
                checks[name] = "ok"
            except Exception as exc:
                ready = False
                # The answer is public, so it names the class only; the log says what failed.
                checks[name] = f"unavailable: {type(exc).__name__}"
                log.warning("not ready", check=name, error=describe_error(exc))
        if not ready:
            return problem_response(request, 503, "Service Unavailable", "not ready", checks=checks)
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics(request: Request) -> Response:
        _inside_only(request)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    _document_problems(app)
    return app


# Headers a reverse proxy (the cluster's ingress) adds to what it forwards; the kubelet's probes
# and Prometheus come straight to the pod without them.
_FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def _inside_only(request: Request) -> None:
    """The operations routes answer only requests made inside the cluster: through the ingress
    (the partners' gateway and the console face the internet) they are not there, so request
    counts and readiness details stay with the operators."""
    if any(name in request.headers for name in _FORWARDED):
        raise Problem(404, "Not Found", "no such route")


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; some problems add members (errors, code, checks)",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}


def _document_problems(app: FastAPI) -> None:
    """Every error answer is problem+json (``install_problem_handlers``); say so in the OpenAPI
    document instead of FastAPI's default ``application/json`` validation error."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if "422" in responses:
                    responses["422"]["content"] = problem
                for status in ("4XX", "5XX"):
                    responses.setdefault(status, {"description": "A problem", "content": problem})
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
