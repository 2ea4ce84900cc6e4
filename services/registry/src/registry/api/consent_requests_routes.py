"""HTTP for consent station staff record as the driver's statement (issue 14): staff ask, the
driver confirms in the app; or the driver's app makes a one-time code the staff type in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from common.auth import Principal, require_roles
from common.authz import require_scope
from common.schemas import RequestModel
from registry.api.dependencies import RegistryDep, actor, visible
from registry.consent_requests import CODE_LENGTH, ConsentAsked
from registry.domain import ConsentPurpose

router = APIRouter(prefix="/v1", tags=["consent and family"])

Asker = Annotated[Principal, Depends(require_scope("drivers:write", or_roles=("station",)))]
OwnerOrReader = Annotated[Principal, Depends(require_scope("drivers:read", or_roles=("driver",)))]
TheDriver = Annotated[Principal, Depends(require_roles("driver"))]


class AskRequest(RequestModel):
    purpose: ConsentPurpose
    granted: bool
    code: str | None = Field(
        default=None,
        min_length=CODE_LENGTH,
        max_length=CODE_LENGTH,
        description="The one-time code the driver's app shows for this purpose and answer",
    )


class CodeRequest(RequestModel):
    purpose: ConsentPurpose
    granted: bool


class ConsentRequestView(BaseModel):
    request_id: str
    driver_id: str
    purpose: ConsentPurpose
    granted: bool
    status: str = Field(
        description="pending, confirmed, declined (requests); offered, used (codes)"
    )
    station_id: str | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, asked: ConsentAsked) -> ConsentRequestView:
        return cls(**vars(asked))


class ConsentCodeView(ConsentRequestView):
    code: str = Field(description="Shown once: the driver gives it to the station staff")


@router.post(
    "/drivers/{driver_id}/consent-requests",
    status_code=202,
    response_model=ConsentRequestView,
    summary="Station staff ask the driver to confirm a consent (with the driver's code: recorded)",
    responses={200: {"description": "The driver's code confirmed it: the consent is recorded"}},
)
async def ask_consent(
    driver_id: str, body: AskRequest, principal: Asker, registry: RegistryDep, response: Response
) -> ConsentRequestView:
    await visible(registry, principal, driver_id)
    requests = registry.consent_requests
    if body.code is None:
        asked = await requests.ask(
            driver_id, body.purpose, body.granted, actor(principal), principal.station_id
        )
        return ConsentRequestView.of(asked)
    recorded = await requests.record_with_code(
        driver_id,
        body.purpose,
        body.granted,
        code=body.code,
        staff=actor(principal),
        station_id=principal.station_id,
    )
    response.status_code = 200
    return ConsentRequestView.of(recorded)


@router.get(
    "/drivers/{driver_id}/consent-requests",
    response_model=list[ConsentRequestView],
    summary="Consent requests waiting for the driver's answer, newest first",
)
async def open_consent_requests(
    driver_id: str, principal: OwnerOrReader, registry: RegistryDep
) -> list[ConsentRequestView]:
    await visible(registry, principal, driver_id)
    found = await registry.consent_requests.open_requests(driver_id)
    return [ConsentRequestView.of(asked) for asked in found]


@router.post(
    "/drivers/{driver_id}/consent-requests/{request_id}/confirm",
    response_model=ConsentRequestView,
    summary="The driver confirms a station's consent request: the consent is recorded as theirs",
)
async def confirm_consent_request(
    driver_id: str, request_id: str, principal: TheDriver, registry: RegistryDep
) -> ConsentRequestView:
    await visible(registry, principal, driver_id)
    confirmed = await registry.consent_requests.confirm(driver_id, request_id, actor(principal))
    return ConsentRequestView.of(confirmed)


@router.post(
    "/drivers/{driver_id}/consent-requests/{request_id}/decline",
    response_model=ConsentRequestView,
    summary="The driver declines a station's consent request: nothing changes",
)
async def decline_consent_request(
    driver_id: str, request_id: str, principal: TheDriver, registry: RegistryDep
) -> ConsentRequestView:
    await visible(registry, principal, driver_id)
    declined = await registry.consent_requests.decline(driver_id, request_id, actor(principal))
    return ConsentRequestView.of(declined)


@router.post(
    "/drivers/{driver_id}/consent-codes",
    status_code=201,
    response_model=ConsentCodeView,
    summary="A one-time code (10 minutes) for station staff to record this purpose and answer",
)
async def offer_consent_code(
    driver_id: str, body: CodeRequest, principal: TheDriver, registry: RegistryDep
) -> ConsentCodeView:
    await visible(registry, principal, driver_id)
    code, offered = await registry.consent_requests.offer_code(
        driver_id, body.purpose, body.granted, actor(principal)
    )
    return ConsentCodeView(**vars(offered), code=code)
