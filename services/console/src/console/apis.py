"""Calls to the services' public APIs, always with the signed-in person's own token.

The console holds no rights of its own: whatever a service refuses the person, the page shows
as the service's own problem detail.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal
from urllib.parse import quote

import httpx

from console.settings import ConsoleSettings

Service = Literal["registry", "points", "stations", "notify", "cases", "partners"]


class ApiError(Exception):
    """A service answered with a problem (or did not answer); ``detail`` is safe to show."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or response.reason_phrase)
    return response.reason_phrase


class Api:
    """One person's view of the services for one request."""

    def __init__(self, http: httpx.AsyncClient, settings: ConsoleSettings, token: str) -> None:
        self._http = http
        self._settings = settings
        self._headers = {"Authorization": f"Bearer {token}"}

    def _url(self, service: Service, path: str) -> str:
        base: str = getattr(self._settings, f"{service}_url")
        return base.rstrip("/") + path

    async def _send(
        self,
        method: str,
        service: Service,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = dict(self._headers)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self._http.request(
                method, self._url(service, path), params=clean, json=body, headers=headers
            )
        except httpx.TransportError as exc:
            raise ApiError(503, f"{service} is not reachable") from exc
        if response.is_error:
            raise ApiError(response.status_code, _detail(response))
        return response.json() if response.content else None

    async def get(self, service: Service, path: str, **params: Any) -> Any:
        return await self._send("GET", service, path, params=params)

    async def post(
        self, service: Service, path: str, body: Any = None, *, idempotency_key: str | None = None
    ) -> Any:
        sent = body if body is not None else {}
        return await self._send("POST", service, path, body=sent, idempotency_key=idempotency_key)

    async def maybe(self, service: Service, path: str, **params: Any) -> Any:
        """A GET whose refusal or absence a page shows as 'not available', not as an error."""
        try:
            return await self.get(service, path, **params)
        except ApiError:
            return None


def quoted(value: object) -> str:
    """One segment of a service's path from a request's (or an answer's) text.

    Quoted whole, so a ``/``, ``?`` or ``#`` in it cannot add segments or a query; a bare ``.``
    or ``..`` survives quoting and httpx would resolve it (``/v1/accounts/../x`` is ``/v1/x``),
    so its dots are percent-encoded too and name nothing but themselves."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


def new_idempotency_key() -> str:
    return uuid.uuid4().hex
