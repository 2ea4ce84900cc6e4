"""What every registry router depends on: who calls, the use cases, which drivers the caller
may see, driver pages and retry-safe writes.

Access (issue 3): operators everything; station staff look drivers up (masked); partners only
drivers they registered or are linked to; drivers only themselves. Someone else's driver answers
404 exactly like a missing one, so ids cannot be probed. Domain errors become problems in
``registry.api.errors``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.auth import Principal, require_roles
from common.pagination import PageParams, encode_cursor
from common.problems import Problem
from common.requests import IdempotentRequests
from registry.api.schemas import DriverPage, DriverView
from registry.domain import Driver, DriverNotFound
from registry.records import Actor
from registry.service import Registry

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe: the same key and body answer the first answer again",
    ),
]

Operator = Annotated[Principal, Depends(require_roles("operator"))]
AnyRole = Annotated[Principal, Depends(require_roles("operator", "station", "partner", "driver"))]


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(_registry)]


def actor(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, role=principal.role, partner_id=principal.partner_id)


def _not_found() -> Problem:
    return Problem(404, "Not Found", "no such driver")


async def visible(registry: Registry, principal: Principal, driver_id: str) -> Driver:
    """The driver if this caller may see them; 404 otherwise, exactly like a missing one."""
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise _not_found()
    try:
        driver = await registry.lookup.get_driver(driver_id)
    except DriverNotFound as exc:
        raise _not_found() from exc
    if principal.role == "partner" and not driver.is_linked_to(principal.partner_id):
        raise _not_found()
    return driver


async def driver_view(registry: Registry, principal: Principal, driver: Driver) -> DriverView:
    held = await registry.lookup.vehicles_of([driver.driver_id])
    partner = principal.partner_id if principal.role == "partner" else None
    return DriverView.of(driver, held.get(driver.driver_id, []), partner_id=partner)


async def driver_page(
    registry: Registry, found: list[Driver], limit: int, principal: Principal
) -> DriverPage:
    held = await registry.lookup.vehicles_of([d.driver_id for d in found])
    partner = principal.partner_id if principal.role == "partner" else None
    items = [DriverView.of(d, held.get(d.driver_id, []), partner_id=partner) for d in found]
    cursor = encode_cursor({"id": found[-1].driver_id}) if len(found) == limit else None
    return DriverPage(items=items, next_cursor=cursor)


def after_id(page: PageParams) -> str | None:
    value = (page.after or {}).get("id")
    return str(value) if value is not None else None


def next_cursor(ids: list[str], limit: int) -> str | None:
    return encode_cursor({"id": ids[-1]}) if len(ids) == limit else None


async def run_once(
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    action: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> JSONResponse:
    """Run a retryable write at most once per ``(caller, Idempotency-Key)``."""
    requests: IdempotentRequests = request.app.state.requests

    async def run() -> tuple[int, Any]:
        status, answer = await action()
        return status, answer.model_dump(mode="json")

    fingerprint = {"path": request.url.path, "body": body.model_dump(mode="json") if body else None}
    status, answer = await requests.run(caller=principal.sub, key=key, body=fingerprint, action=run)
    return JSONResponse(answer, status_code=status)
