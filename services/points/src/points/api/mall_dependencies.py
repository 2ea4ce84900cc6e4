"""What the mall's routers depend on: who calls, the mall, its errors as problems, and which
redemptions a caller may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from common.auth import Principal, require_roles
from common.problems import Problem
from points.domain import AccountNotActive, AccountNotFound, InsufficientPoints, PointsError
from points.ledger import LedgerContention
from points.mall import Mall
from points.redemptions import (
    CodeLocked,
    InvalidTransition,
    KeyReused,
    NotAllowedHere,
    Redemption,
    RedemptionNotFound,
    WrongCode,
)
from points.rewards import OutOfStock, RewardExists, RewardNotFound

Operator = Annotated[Principal, Depends(require_roles("operator"))]
DriverOrOperator = Annotated[Principal, Depends(require_roles("operator", "driver"))]
Anyone = Annotated[Principal, Depends(require_roles("operator", "driver", "station"))]


def _mall(request: Request) -> Mall:
    mall: Mall = request.app.state.mall
    return mall


MallDep = Annotated[Mall, Depends(_mall)]


def problem_of(exc: PointsError) -> Problem:
    """Domain errors of the mall as HTTP answers."""
    match exc:
        case RewardNotFound():
            return Problem(404, "Not Found", "no such reward")
        case RedemptionNotFound():
            return Problem(404, "Not Found", "no such redemption")
        case AccountNotFound():
            return Problem(404, "Not Found", "no such account")
        case RewardExists():
            return Problem(409, "Conflict", "a reward with this id exists")
        case OutOfStock():
            return Problem(409, "Conflict", "out of stock", extra={"reason": "out of stock"})
        case InsufficientPoints():
            return Problem(409, "Conflict", str(exc), extra={"reason": "insufficient points"})
        case AccountNotActive() | InvalidTransition():
            return Problem(409, "Conflict", str(exc))
        case KeyReused():
            return Problem(422, "Unprocessable Content", str(exc))
        case WrongCode():
            return Problem(422, "Unprocessable Content", "the code does not match")
        case CodeLocked():
            return Problem(423, "Locked", str(exc))
        case NotAllowedHere():
            return Problem(403, "Forbidden", str(exc))
        case LedgerContention():
            return Problem(503, "Service Unavailable", "the account is busy; retry")
    return Problem(409, "Conflict", str(exc))


def own_driver(principal: Principal, driver_id: str | None) -> str:
    """The driver a request is about: a driver's own id, or the one an operator names."""
    if principal.role == "driver":
        if principal.driver_id is None or driver_id not in (None, principal.driver_id):
            raise Problem(403, "Forbidden", "drivers act only for themselves")
        return principal.driver_id
    if driver_id is None:
        raise Problem(422, "Unprocessable Content", "driver_id is required")
    return driver_id


async def visible(mall: Mall, principal: Principal, rid: str) -> Redemption:
    try:
        redemption = await mall.redemption(rid)
    except RedemptionNotFound as exc:
        raise Problem(404, "Not Found", "no such redemption") from exc
    if principal.role == "driver" and redemption.driver_id != principal.driver_id:
        raise Problem(404, "Not Found", "no such redemption")
    return redemption
