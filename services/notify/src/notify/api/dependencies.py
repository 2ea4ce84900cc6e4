"""What every notify router depends on: who calls, the use cases, whose data a caller may see,
and newest-first pages.

Drivers see only their own inbox, notifications and preferences (someone else's answers 404
exactly like a missing one); partners only their own webhook subscriptions; operators the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from common.auth import Principal, require_roles
from common.authz import require_scope
from common.pagination import AfterTime, PageParams
from common.problems import Problem
from notify.service import Notify

# Operators by scope (common.authz): a driver's notifications are driver data (drivers:read).
Driverish = Annotated[Principal, Depends(require_scope("drivers:read", or_roles=("driver",)))]
Driver = Annotated[Principal, Depends(require_roles("driver"))]
Broadcaster = Annotated[Principal, Depends(require_scope("notify:broadcast"))]
TemplateEditor = Annotated[Principal, Depends(require_scope("templates:manage"))]
Partner = Annotated[Principal, Depends(require_roles("partner"))]
PartnerOrOperator = Annotated[
    Principal, Depends(require_scope("partners:manage", or_roles=("partner",)))
]


async def _notify(request: Request) -> Notify:
    notify: Notify = request.app.state.notify
    return notify


NotifyDep = Annotated[Notify, Depends(_notify)]


def own_driver(principal: Principal, driver_id: str) -> None:
    """Drivers see only their own data; another driver's is indistinguishable from none."""
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such driver")


def partner_scope(principal: Principal) -> str | None:
    """A partner's own id (its subscriptions only); None for operators (all of them)."""
    if principal.role == "operator":
        return None
    if not principal.partner_id:
        raise Problem(403, "Forbidden", "the token names no partner")
    return principal.partner_id


def newest_after(page: PageParams) -> dict[str, str] | None:
    """The position a newest-first page continues after, as the stores take it."""
    position = page.after(AfterTime)
    return {"t": position.at.isoformat(), "id": position.id} if position else None


def newest_cursor(page: PageParams, created_at: datetime, item_id: str) -> str | None:
    """The cursor after the last item of a newest-first page."""
    return page.next(AfterTime(at=created_at, id=item_id))
