"""What the mall's routers depend on: who calls, the mall, and which redemptions a caller may
see. Its domain errors become problems in ``points.api.errors``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from common.auth import Principal
from common.authz import require_scope
from common.problems import Problem
from points.mall import Mall
from points.redemptions import Redemption, RedemptionNotFound

# Operators by scope (common.authz): the catalogue needs mall:manage, reading points:read.
MallManager = Annotated[Principal, Depends(require_scope("mall:manage"))]
DriverOrMallManager = Annotated[
    Principal, Depends(require_scope("mall:manage", or_roles=("driver",)))
]
DriverOrReader = Annotated[Principal, Depends(require_scope("points:read", or_roles=("driver",)))]
Anyone = Annotated[Principal, Depends(require_scope("points:read", or_roles=("driver", "station")))]


async def _mall(request: Request) -> Mall:
    mall: Mall = request.app.state.mall
    return mall


MallDep = Annotated[Mall, Depends(_mall)]


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
    redemption = await mall.redemption(rid)
    if principal.role == "driver" and redemption.driver_id != principal.driver_id:
        raise RedemptionNotFound(rid)
    return redemption
