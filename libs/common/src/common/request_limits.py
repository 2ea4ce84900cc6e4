"""Limits on what one request, one caller and one address may cost (OWASP API4).

- **Body size**: every request body is counted as it arrives and refused with 413 as soon as it
  passes its route's limit (``max_body_bytes``, larger for the routes a service names, such as
  the partners' batch ingest). A declared ``Content-Length`` over the limit is refused before a
  byte is read, but never trusted on its own: a chunked or lying body is counted all the same.
- **Rate**: requests per client address (before anything else is done) and per authenticated
  principal (once the token is verified), with the ``limits`` library's sliding windows; over the
  limit → 429 with ``Retry-After``. Its storage is a URI: ``async+memory://`` counts per
  process, ``async+redis://…`` across every instance of a service.
- **Cursor key**: cursors are sealed (``common.pagination``) under ``cursor_key``, by default a
  key derived from the PII encryption key under its own label (HKDF): as secret as that key, no
  further secret to deploy, and rotating that key only sends clients back to a first page.

The partners gateway's per-partner quotas (events per minute and day) are its own and stay.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from pydantic import BaseModel, Field, SecretStr, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.problems import problem_response

_CURSOR_KEY_BYTES = 32
_CURSOR_KEY_LABEL = b"driverhome cursor seal v1"
# Probes and scrapes come from the platform, often many per second from one node address.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestLimitSettings(BaseModel):
    """The limits' settings; part of every service's settings (``DRIVERHOME_*``)."""

    # JSON bodies of this API are small (the longest text field is a few thousand characters).
    max_body_bytes: int = Field(default=131_072, ge=1024)
    # Whether the per-address and per-principal request rate limits are enforced.
    rate_limit_enabled: bool = True
    # ``limits`` notation, several windows separated by ';' ("20/second;600/minute").
    rate_limit_per_principal: str = "30/second;900/minute"
    # Higher: many drivers' phones can share one carrier address.
    rate_limit_per_ip: str = "100/second;3000/minute"
    # Where request rates are counted (a ``limits`` async storage URI): async+memory:// per
    # process, async+redis://… across every instance.
    rate_limit_storage: str = "async+memory://"
    # Peers whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips; addresses or
    # networks, comma-separated): behind an ingress, its network, or every caller shares its
    # address and one per-address limit.
    forwarded_allow_ips: str = "127.0.0.1"
    # Base64 32-byte key sealing pagination cursors; unset: derived from pii_key (HKDF).
    cursor_key: SecretStr | None = None

    @field_validator("rate_limit_per_principal", "rate_limit_per_ip")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_many(value)  # raises ValueError on a malformed limit
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _async_storage(cls, value: str) -> str:
        if not value.startswith("async+"):
            raise ValueError("rate_limit_storage must be an async storage URI (async+…://)")
        return value

    @field_validator("cursor_key")
    @classmethod
    def _cursor_key_size(cls, value: SecretStr | None) -> SecretStr | None:
        if (
            value is not None
            and len(base64.b64decode(value.get_secret_value())) != _CURSOR_KEY_BYTES
        ):
            raise ValueError("cursor_key must be 32 bytes, base64")
        return value

    def cursor_key_bytes(self, pii_key: str) -> bytes:
        """The configured cursor key, or one derived from the PII key under its own label."""
        if self.cursor_key is not None:
            return base64.b64decode(self.cursor_key.get_secret_value())
        derive = HKDF(
            algorithm=SHA256(), length=_CURSOR_KEY_BYTES, salt=None, info=_CURSOR_KEY_LABEL
        )
        return derive.derive(base64.b64decode(pii_key))


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "Content Too Large")
        self.limit = limit


class TooManyRequests(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limit reached")
        self.retry_after = retry_after


def too_many(request: Request, retry_after: int) -> JSONResponse:
    answer = problem_response(
        request, 429, "Too Many Requests", "too many requests; try again later"
    )
    answer.headers["Retry-After"] = str(retry_after)
    return answer


class BodyLimit:
    """Counts each request body as it arrives; the route's limit is looked up when the body is
    first read (routing has happened by then), the default for anything unrouted."""

    def __init__(self, app: ASGIApp, default: int, per_route: Mapping[str, int]) -> None:
        self._app = app
        self._default = default
        self._per_route = dict(per_route)

    def _limit(self, scope: Scope) -> int:
        route = getattr(scope.get("route"), "path", None)
        return self._per_route.get(route, self._default) if route else self._default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        counted = 0

        async def limited() -> Message:
            nonlocal counted
            limit = self._limit(scope)
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > limit:
                    raise BodyTooLarge(limit)
            return message

        await self._app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class RateLimits:
    """Per-principal and per-address request rates over one ``limits`` storage."""

    def __init__(self, settings: RequestLimitSettings) -> None:
        self.enabled = settings.rate_limit_enabled
        self._limiter = SlidingWindowCounterRateLimiter(
            storage_from_string(settings.rate_limit_storage)
        )
        self._items: dict[str, list[RateLimitItem]] = {
            "ip": parse_many(settings.rate_limit_per_ip),
            "principal": parse_many(settings.rate_limit_per_principal),
        }

    async def retry_after(self, kind: str, key: str) -> int | None:
        """Count one request of ``key``; the seconds to wait when it is over a limit, else None."""
        if not self.enabled:
            return None
        for item in self._items[kind]:
            if not await self._limiter.hit(item, kind, key):
                stats = await self._limiter.get_window_stats(item, kind, key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def admit_principal(self, key: str) -> None:
        """Raises :class:`TooManyRequests` when the principal is over its limit."""
        wait = await self.retry_after("principal", key)
        if wait is not None:
            raise TooManyRequests(wait)


class AddressRateLimit:
    """Per client address, before routing, body or token: the cheapest refusal comes first.
    The address is the peer's, or the one a trusted proxy forwarded (uvicorn's
    ``forwarded_allow_ips``)."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self._app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in UNLIMITED_PATHS:
            client = scope.get("client")
            wait = await self._limits.retry_after("ip", client[0] if client else "unknown")
            if wait is not None:
                await too_many(Request(scope, receive), wait)(scope, receive, send)
                return
        await self._app(scope, receive, send)


async def admit_principal(request: Request, principal_key: str) -> None:
    """The per-principal limit, called once the caller is authenticated."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is not None:
        await limits.admit_principal(principal_key)


def install_request_limits(
    app: FastAPI, settings: RequestLimitSettings, body_limits: Mapping[str, int]
) -> None:
    """Body and rate limits on ``app`` (before the request-context middleware is added, so
    refusals are logged and counted like any answer)."""
    limits = RateLimits(settings)
    app.state.rate_limits = limits
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, per_route=body_limits)
    app.add_middleware(AddressRateLimit, limits=limits)

    async def on_too_large(request: Request, exc: Exception) -> JSONResponse:
        limit = exc.limit if isinstance(exc, BodyTooLarge) else settings.max_body_bytes
        detail = f"the body may be at most {limit} bytes"
        return problem_response(request, 413, "Content Too Large", detail)

    async def on_too_many(request: Request, exc: Exception) -> JSONResponse:
        return too_many(request, exc.retry_after if isinstance(exc, TooManyRequests) else 1)

    app.add_exception_handler(BodyTooLarge, on_too_large)
    app.add_exception_handler(TooManyRequests, on_too_many)
