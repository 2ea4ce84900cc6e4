"""What the mall's routers depend on: who calls, the mall, its errors as problems, and which
redemptions a caller may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from common.auth import Principal
from common.authz import require_scope
from common.domain_errors import title_of
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

# Operators by scope (common.authz): the catalogue needs mall:manage, reading points:read.
MallManager = Annotated[Principal, Depends(require_scope("mall:manage"))]
DriverOrMallManager = Annotated[
    Principal, Depends(require_scope("mall:manage", or_roles=("driver",)))
]
DriverOrReader = Annotated[Principal, Depends(require_scope("points:read", or_roles=("driver",)))]
Anyone = Annotated[Principal, Depends(require_scope("points:read", or_roles=("driver", "station")))]


def _mall(request: Request) -> Mall:
    mall: Mall = request.app.state.mall
    return mall


MallDep = Annotated[Mall, Depends(_mall)]


@dataclass(frozen=True)
class _Answer:
    status: int
    detail: str | None = None  # None: the error's own message
    extra: dict[str, Any] = field(default_factory=dict)


# The mall's errors as HTTP answers; the nearest class in an error's ancestry wins.
_ANSWERS: dict[type[PointsError], _Answer] = {
    RewardNotFound: _Answer(404, "no such reward"),
    RedemptionNotFound: _Answer(404, "no such redemption"),
    AccountNotFound: _Answer(404, "no such account"),
    RewardExists: _Answer(409, "a reward with this id exists"),
    OutOfStock: _Answer(409, "out of stock", {"reason": "out of stock"}),
    InsufficientPoints: _Answer(409, extra={"reason": "insufficient points"}),
    AccountNotActive: _Answer(409),
    InvalidTransition: _Answer(409),
    KeyReused: _Answer(422),
    WrongCode: _Answer(422, "the code does not match"),
    CodeLocked: _Answer(423),
    NotAllowedHere: _Answer(403),
    LedgerContention: _Answer(503, "the account is busy; retry"),
}
_OTHERWISE = _Answer(409)


def problem_of(exc: PointsError) -> Problem:
    """Domain errors of the mall as HTTP answers."""
    answer = next((_ANSWERS[c] for c in type(exc).__mro__ if c in _ANSWERS), _OTHERWISE)
    detail = str(exc) if answer.detail is None else answer.detail
    return Problem(answer.status, title_of(answer.status), detail, extra=dict(answer.extra))


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
