"""HTTP for partner links: the driver sees, confirms and withdraws them and issues one-time
codes; a partner redeems a code the driver gave it. Only the driver decides (own token)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from common.auth import Principal, require_roles
from common.problems import Problem
from registry.api.dependencies import RegistryDep
from registry.domain import LinkBasis, PartnerLink

router = APIRouter(prefix="/v1", tags=["partner links"])

DriverOnly = Annotated[Principal, Depends(require_roles("driver"))]
PartnerOnly = Annotated[Principal, Depends(require_roles("partner"))]
PartnerId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class LinkView(BaseModel):
    partner_id: str
    partner_driver_ref: str | None
    basis: LinkBasis
    linked_at: datetime

    @classmethod
    def of(cls, link: PartnerLink) -> LinkView:
        return cls(**link.model_dump())


class RequestView(BaseModel):
    partner_id: str
    partner_driver_ref: str | None
    requested_at: datetime


class DriverLinks(BaseModel):
    links: list[LinkView]
    requests: list[RequestView] = Field(description="Partners waiting for the driver's answer")


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner_id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")


class CodeView(BaseModel):
    code: str
    partner_id: str
    expires_at: datetime


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=20)
    partner_driver_ref: str | None = Field(default=None, min_length=1, max_length=100)


class RedeemedView(LinkView):
    driver_id: str


def _self(principal: Principal, driver_id: str) -> None:
    if principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such driver")


@router.get(
    "/drivers/{driver_id}/partner-links",
    response_model=DriverLinks,
    summary="The partners that may reach me, and those asking to (the driver)",
)
async def my_links(driver_id: str, principal: DriverOnly, registry: RegistryDep) -> DriverLinks:
    _self(principal, driver_id)
    driver = await registry.partner_links.of_driver(driver_id)
    return DriverLinks(
        links=[LinkView.of(link) for link in driver.partner_links],
        requests=[RequestView(**r.model_dump()) for r in driver.link_requests],
    )


@router.post(
    "/drivers/{driver_id}/partner-links/{partner_id}",
    response_model=LinkView,
    summary="Confirm a partner's pending link request (the driver)",
    responses={404: {"description": "No pending request of this partner"}},
)
async def confirm(
    driver_id: str, partner_id: PartnerId, principal: DriverOnly, registry: RegistryDep
) -> LinkView:
    _self(principal, driver_id)
    return LinkView.of(await registry.partner_links.confirm(driver_id, partner_id))


@router.delete(
    "/drivers/{driver_id}/partner-links/{partner_id}",
    status_code=204,
    summary="Withdraw a partner's link or refuse its request (the driver)",
)
async def withdraw(
    driver_id: str, partner_id: PartnerId, principal: DriverOnly, registry: RegistryDep
) -> Response:
    _self(principal, driver_id)
    await registry.partner_links.withdraw(driver_id, partner_id)
    return Response(status_code=204)


@router.post(
    "/drivers/{driver_id}/partner-link-codes",
    status_code=201,
    response_model=CodeView,
    summary="A one-time code that lets one partner link itself to me (the driver)",
)
async def issue_code(
    driver_id: str, body: CodeRequest, principal: DriverOnly, registry: RegistryDep
) -> CodeView:
    _self(principal, driver_id)
    issued = await registry.partner_links.issue_code(driver_id, body.partner_id)
    return CodeView(code=issued.code, partner_id=issued.partner_id, expires_at=issued.expires_at)


@router.post(
    "/partner-links/redeem",
    response_model=RedeemedView,
    summary="Redeem a driver's one-time code: the link the driver agreed to (partners)",
    responses={404: {"description": "Unknown, expired, used, or issued for another partner"}},
)
async def redeem(
    body: RedeemRequest, principal: PartnerOnly, registry: RegistryDep
) -> RedeemedView:
    if not principal.partner_id:
        raise Problem(403, "Forbidden", "the token names no partner")
    driver_id, link = await registry.partner_links.redeem_code(
        principal.partner_id, body.code, body.partner_driver_ref
    )
    return RedeemedView(driver_id=driver_id, **link.model_dump())
