"""The booking system's lookups: its reference → driver id, and a linked driver's grade."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from partners.api.dependencies import PartnerRole, PartnersDep, active_account, require_scope
from partners.api.schemas import DriverLinkView, GradeView

router = APIRouter(prefix="/v1/drivers", tags=["booking"])


@router.get(
    "",
    summary="The driver id the registry linked to one of the caller's references",
    description="404 until the registry announced the link; only the caller's own references.",
)
async def driver_by_ref(
    ref: Annotated[str, Query(min_length=1, max_length=100)],
    partners: PartnersDep,
    principal: PartnerRole,
) -> DriverLinkView:
    partner_id = require_scope(principal, "drivers:read")
    await active_account(partners, partner_id)
    return DriverLinkView.model_validate(await partners.booking.driver_by_ref(partner_id, ref))


@router.get(
    "/{driver_id}/grade",
    summary="The credit grade of a driver linked to the caller (404 for any other driver)",
)
async def driver_grade(
    driver_id: Annotated[str, Path(min_length=1, max_length=200)],
    partners: PartnersDep,
    principal: PartnerRole,
) -> GradeView:
    partner_id = require_scope(principal, "drivers:read")
    await active_account(partners, partner_id)
    return GradeView.model_validate(await partners.booking.grade(partner_id, driver_id))
