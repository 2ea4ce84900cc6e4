from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from common.auth import Principal, require_roles
from common.problems import Problem
from points.api.schemas import AccountView
from points.domain import AccountNotFound
from points.service import PointsService

router = APIRouter(prefix="/v1", tags=["accounts"])

ACCOUNTS_READ_SCOPE = "accounts:read"


def _service(request: Request) -> PointsService:
    service: PointsService = request.app.state.service
    return service


def _may_read(principal: Principal, driver_id: str) -> bool:
    if principal.role == "operator":
        return True
    if principal.role == "driver":
        return principal.driver_id == driver_id
    # Partners (the port booking system reads grades) need the granted scope.
    return principal.role == "partner" and principal.has_scope(ACCOUNTS_READ_SCOPE)


@router.get(
    "/accounts/{driver_id}",
    response_model=AccountView,
    summary="A driver's points account: balance and credit grade",
)
async def get_account(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_roles("operator", "partner", "driver"))],
    service: Annotated[PointsService, Depends(_service)],
) -> AccountView:
    if not _may_read(principal, driver_id):
        raise Problem(404, "Not Found", "no such account")
    try:
        return AccountView.of(await service.get_account(driver_id))
    except AccountNotFound as exc:
        raise Problem(404, "Not Found", "no such account") from exc
