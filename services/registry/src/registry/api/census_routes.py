"""HTTP for the quarterly census: campaigns, their progress and verifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from common.auth import Principal
from common.authz import require_scope
from common.pagination import PageQuery
from common.problems import Problem
from registry.api.census_schemas import (
    CampaignPage,
    CampaignRequest,
    CampaignView,
    GridProgressView,
    VerificationRequest,
)
from registry.api.dependencies import (
    CensusManager,
    DriversReader,
    RegistryDep,
    actor,
    after_id,
    driver_page,
    driver_view,
    page_of,
    visible,
)
from registry.api.schemas import DriverPage, DriverView
from registry.service import Registry

router = APIRouter(prefix="/v1", tags=["census"])

# A station token without a station id reaches no grid (no grid is assigned to "").
_NO_STATION = ""


def _station_of(principal: Principal) -> str | None:
    """The station whose census assignment limits the call; None for operators (their scope)."""
    if principal.role != "station":
        return None
    return principal.station_id or _NO_STATION


async def _campaign_view(registry: Registry, campaign_id: str) -> CampaignView:
    campaign = await registry.census.get_campaign(campaign_id)
    progress = [
        GridProgressView(**vars(p)) for p in await registry.census.campaign_progress(campaign_id)
    ]
    return CampaignView.of(campaign, progress)


@router.post(
    "/census/campaigns",
    status_code=201,
    response_model=CampaignView,
    summary="Start the quarterly census (one campaign per quarter; again answers it, 200)",
    responses={200: {"description": "This quarter's campaign already exists: it is answered"}},
)
async def start_campaign(
    body: CampaignRequest, principal: CensusManager, registry: RegistryDep, response: Response
) -> CampaignView:
    campaign, created = await registry.census.start_campaign(
        body.quarter, body.grid_ids, actor(principal)
    )
    if not created:
        response.status_code = 200
    return await _campaign_view(registry, campaign.campaign_id)


@router.get("/census/campaigns", response_model=CampaignPage, summary="Census campaigns")
async def list_campaigns(
    principal: DriversReader, registry: RegistryDep, page: PageQuery
) -> CampaignPage:
    found = await registry.census.campaigns(after=after_id(page), limit=page.limit)
    return page_of(CampaignPage, found, CampaignView.of, lambda c: c.campaign_id, page)


@router.get(
    "/census/campaigns/{campaign_id}",
    response_model=CampaignView,
    summary="A campaign with its progress per grid",
)
async def get_campaign(
    campaign_id: str, principal: DriversReader, registry: RegistryDep
) -> CampaignView:
    return await _campaign_view(registry, campaign_id)


@router.get(
    "/census/campaigns/{campaign_id}/pending",
    response_model=DriverPage,
    summary="Active drivers (of a grid) not verified since the campaign's quarter began",
)
async def campaign_pending(
    campaign_id: str,
    principal: Annotated[Principal, Depends(require_scope("census:manage", or_roles=("station",)))],
    registry: RegistryDep,
    page: PageQuery,
    grid_id: Annotated[str | None, Query(max_length=100)] = None,
) -> DriverPage:
    found = await registry.census.campaign_pending(
        campaign_id,
        grid_id,
        after=after_id(page),
        limit=page.limit,
        station_id=_station_of(principal),
    )
    return await driver_page(registry, found, page.limit, principal, page)


@router.post(
    "/drivers/{driver_id}/verifications",
    response_model=DriverView,
    summary="Record a census verification (announces driver.verified.v1 with changed fields)",
)
async def verify_driver(
    driver_id: str,
    body: VerificationRequest,
    principal: Annotated[Principal, Depends(require_scope("census:manage", or_roles=("station",)))],
    registry: RegistryDep,
) -> DriverView:
    await visible(registry, principal, driver_id)
    given = body.changes.model_dump(exclude_unset=True)
    for required in ("name", "national_id", "status"):
        if required in given and given[required] is None:
            raise Problem(422, "Unprocessable Content", f"{required} cannot be cleared")
    driver = await registry.census.verify(
        driver_id, body.campaign_id, given, actor(principal), station_id=_station_of(principal)
    )
    if body.survey is not None:
        # After the verification, which checked the station's census assignment.
        survey = body.survey.input()
        await registry.survey.record(driver_id, body.campaign_id, survey, actor(principal))
        driver = await registry.lookup.get_driver(driver_id)
    return await driver_view(registry, principal, driver)
