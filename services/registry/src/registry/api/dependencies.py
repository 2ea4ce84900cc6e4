"""What every registry router depends on: who calls, the use cases, which drivers the caller
may see, driver pages and retry-safe writes.

Access (issues 3 and 14): operators by scope; station staff look drivers up (masked); partners only
drivers they registered or are linked to; drivers only themselves. Someone else's driver answers
404 exactly like a missing one, so ids cannot be probed. What of a driver each caller sees is
decided once, in ``sight_of``. Domain errors become problems in ``registry.api.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from common.auth import Principal
from common.authz import require_scope
from common.pagination import AfterId, Cursors, PageParams
from common.problems import Problem
from registry.api.schemas import DriverPage, DriverView, Sight
from registry.domain import Driver, DriverNotFound, Vehicle
from registry.lookup import Search
from registry.records import Actor
from registry.service import Registry

T = TypeVar("T")
PageT = TypeVar("PageT", bound=BaseModel)

# Operators by the scope of the act (common.authz); the other roles a route admits are held to
# their own drivers below and in the use cases.
DriversReader = Annotated[Principal, Depends(require_scope("drivers:read"))]
DriversWriter = Annotated[Principal, Depends(require_scope("drivers:write"))]
OrgsManager = Annotated[Principal, Depends(require_scope("orgs:manage"))]
CensusManager = Annotated[Principal, Depends(require_scope("census:manage"))]
Eraser = Annotated[Principal, Depends(require_scope("drivers:erase"))]
PiiReader = Annotated[Principal, Depends(require_scope("pii:read"))]
AuditReader = Annotated[Principal, Depends(require_scope("audit:read"))]
AnyReader = Annotated[
    Principal, Depends(require_scope("drivers:read", or_roles=("station", "partner", "driver")))
]


async def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(_registry)]


def actor(principal: Principal) -> Actor:
    return Actor(sub=principal.actor, role=principal.role, partner_id=principal.partner_id)


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
    if principal.role == "station" and not await registry.station_access.reaches(
        principal.station_id, driver
    ):
        # Only drivers who checked in at the station or are on its census assignment.
        raise _not_found()
    return driver


def shows_base(principal: Principal, driver: Driver) -> bool:
    """A driver's declared base goes beyond the district's own staff and the driver only while
    they consent to ``location``, as on the bus (a partner or station reads it otherwise)."""
    return principal.role in ("operator", "driver") or driver.has_consent("location")


def sight_of(principal: Principal, driver: Driver) -> Sight:
    """What of this driver the caller sees: the one place every driver answer asks.

    Operators (by the scopes of their named roles) and the driver themselves see the whole
    record. A station's counter needs only who the driver is (name, masked contacts, plates,
    fleet, status) to check them in or verify them, and a partner only that and its own link:
    memberships (a party branch, a mobile member's home organisation) and consents (party_life
    among them) are political status and private choices, so neither sees them, nor a station
    any partner's link. Any other role sees as little as a station.
    """
    location = shows_base(principal, driver)
    if principal.role in ("operator", "driver"):
        return Sight(location=location, affiliations=True, links="all")
    if principal.role == "partner":
        return Sight(
            location=location, affiliations=False, links="own", partner_id=principal.partner_id
        )
    return Sight(location=location, affiliations=False, links="none")


async def driver_view(
    registry: Registry, principal: Principal, driver: Driver, *, held: list[Vehicle] | None = None
) -> DriverView:
    """The driver as the caller may see them; ``held``: their plates when already known."""
    if held is None:
        held = (await registry.lookup.vehicles_of([driver.driver_id]))[driver.driver_id]
    return DriverView.of(driver, held, sight_of(principal, driver))


async def driver_page(
    registry: Registry, found: list[Driver], limit: int, principal: Principal, cursors: Cursors
) -> DriverPage:
    held = await registry.lookup.vehicles_of([d.driver_id for d in found])
    items = [DriverView.of(d, held.get(d.driver_id, []), sight_of(principal, d)) for d in found]
    full = len(found) == limit
    cursor = cursors.next(AfterId(id=found[-1].driver_id)) if full and found else None
    return DriverPage(items=items, next_cursor=cursor)


async def drivers_matching(
    registry: Registry, criteria: Search, principal: Principal, page: PageParams
) -> DriverPage:
    """A page of the drivers a search finds, as the caller may see them."""
    found = await registry.lookup.search(criteria, after=after_id(page), limit=page.limit)
    return await driver_page(registry, found, page.limit, principal, page)


def after_id(page: PageParams) -> str | None:
    position = page.after(AfterId)
    return position.id if position else None


def page_of(
    page_type: type[PageT],
    found: Sequence[T],
    view: Callable[[T], BaseModel],
    key: Callable[[T], str],
    page: PageParams,
) -> PageT:
    """A page of views of what a query found, with the cursor after its last item if full."""
    return page_type(
        items=[view(x) for x in found], next_cursor=next_cursor([key(x) for x in found], page)
    )


def next_cursor(ids: list[str], page: PageParams) -> str | None:
    return page.next_if_full(len(ids), AfterId(id=ids[-1]) if ids else None)
