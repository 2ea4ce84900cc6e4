"""Who may do what: the one authorization model of every service (issue 14, docs/security.md).

Two questions, asked in two places:

* **May this kind of caller do this at all?** The route asks, with :func:`require_scope`: an
  operator needs the scope of the action (granted by the token's ``scope`` claim or by its named
  roles, :data:`NAMED_ROLES`); drivers, stations and partners the route admits pass on to
* **whose record is it?** The use case asks (:func:`owns_driver`, :func:`owns_station`,
  :func:`require_own_driver`), because only it knows the record.

An operator token with neither roles nor scopes may do nothing that needs a scope.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any

from fastapi import Depends

from common.auth import Principal, Role, current_principal
from common.named_roles import (
    FULL_OPERATOR_ROLES,
    NAMED_ROLES,
    OPERATOR_SCOPES,
    scopes_of_roles,
)
from common.problems import Problem

__all__ = [
    "FULL_OPERATOR_ROLES",
    "NAMED_ROLES",
    "OPERATOR_SCOPES",
    "Check",
    "owns_driver",
    "owns_station",
    "require_own_driver",
    "require_scope",
    "scopes_of_roles",
]

Check = Callable[[Principal], Coroutine[Any, Any, Principal]]


def missing_scope(scope: str) -> Problem:
    return Problem(
        403, "Forbidden", f"this needs the {scope} scope", extra={"missing_scope": scope}
    )


def require_scope(scope: str, *, or_roles: Iterable[Role] = ()) -> Check:
    """A route dependency: operators need ``scope``; the roles in ``or_roles`` pass through.

    Those other roles (a driver reading their own account, a station its own check-ins) are
    admitted here and held to their own records in the use case. Anyone else answers 403.
    """
    if scope not in OPERATOR_SCOPES:
        # A typo would lock every operator out; fail when the router is built instead.
        raise ValueError(f"{scope!r} is granted by no named role (common.named_roles)")
    admitted = frozenset(or_roles)

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role in admitted:
            return principal
        if principal.role != "operator":
            raise Problem(403, "Forbidden", f"role {principal.role!r} may not do this")
        if not principal.has_scope(scope):
            raise missing_scope(scope)
        return principal

    return check


def owns_driver(principal: Principal, driver_id: str) -> bool:
    """A driver's own record; drivers reach nothing else of anyone."""
    return (
        principal.role == "driver"
        and principal.driver_id is not None
        and (principal.driver_id == driver_id)
    )


def owns_station(principal: Principal, station_id: str | None) -> bool:
    """A station's own record (its check-ins, activities, census assignment)."""
    return (
        principal.role == "station"
        and principal.station_id is not None
        and (principal.station_id == station_id)
    )


def require_own_driver(principal: Principal, driver_id: str) -> None:
    """Drivers only for themselves (403); other roles were admitted by the route's scope."""
    if principal.role == "driver" and not owns_driver(principal, driver_id):
        raise Problem(403, "Forbidden", "a driver may act only for themselves")
