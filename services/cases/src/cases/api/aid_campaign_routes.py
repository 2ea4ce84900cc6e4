"""Festival campaigns and hardship visits over HTTP (docs/cases.md "Festival campaigns").

Care staff (``aid:review``) launch a campaign and read its deliveries; the campaign's station
confirms each hand-over; a driver reads the gifts allotted to them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from cases.aid import REVIEW
from cases.aid_campaigns import Campaign, Campaigns
from cases.aid_visits import HardshipVisits, Visit
from cases.api.dependencies import Caller
from common.auth import Principal
from common.authz import require_scope
from common.events.aid_campaigns import Season
from common.schemas import AwareInstant

router = APIRouter(prefix="/v1/aid/campaigns", tags=["aid"])
Reviewer = Annotated[Principal, Depends(require_scope(REVIEW))]
DriverId = Annotated[str, Field(min_length=1, max_length=64)]
# A festival gift's value; the bound also keeps it within the store's 64-bit integers.
MAX_AMOUNT_YUAN = 1_000_000


async def _campaigns(request: Request) -> Campaigns:
    campaigns: Campaigns = request.app.state.aid_campaigns
    return campaigns


CampaignsDep = Annotated[Campaigns, Depends(_campaigns)]


class CampaignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    season: Season
    title: str = Field(min_length=1, max_length=80, description="e.g. 2026 冬送温暖")
    gift: str = Field(min_length=1, max_length=80, description="What each driver collects")
    amount_yuan: int | None = Field(
        default=None, gt=0, le=MAX_AMOUNT_YUAN, description="Its value, if money or kind"
    )
    station_id: str = Field(min_length=1, max_length=64, description="Where drivers collect it")
    collect_by: AwareInstant
    # Each id becomes its gift event's subject and part of its id, so it is held to the
    # driver ids cases accepts elsewhere (1 to 64 characters) here, at the edge.
    driver_ids: list[DriverId] = Field(default_factory=list, max_length=5000)
    unit: Literal["grid", "organisation", "route_grid"] | None = Field(
        default=None, description="Instead of driver_ids: every driver of this unit (and below)"
    )
    unit_id: str | None = Field(default=None, min_length=1, max_length=64)


class DeliveryView(BaseModel):
    campaign_id: str
    driver_id: str
    season: Season
    gift: str
    station_id: str
    collect_by: datetime
    status: Literal["allotted", "delivered"]
    delivered_at: datetime | None = None


class CampaignView(BaseModel):
    campaign_id: str
    season: Season
    title: str
    gift: str
    amount_yuan: int | None
    station_id: str
    collect_by: datetime
    recipients: int
    deliveries: list[DeliveryView] = Field(default_factory=list)


def delivery(doc: dict[str, Any]) -> DeliveryView:
    return DeliveryView(**{k: doc.get(k) for k in DeliveryView.model_fields})


def campaign(doc: dict[str, Any], deliveries: list[dict[str, Any]]) -> CampaignView:
    fields = {k: doc.get(k) for k in CampaignView.model_fields if k != "deliveries"}
    return CampaignView(
        **fields | {"campaign_id": doc["_id"]}, deliveries=[delivery(d) for d in deliveries]
    )


@router.post("", status_code=201, summary="Launch a campaign to a segment of drivers")
async def launch(body: CampaignBody, principal: Reviewer, campaigns: CampaignsDep) -> CampaignView:
    launched = await campaigns.launch(principal, Campaign(**body.model_dump()))
    return campaign(launched, [])


@router.get("/mine", summary="The campaign gifts allotted to me (drivers)")
async def mine(principal: Caller, campaigns: CampaignsDep) -> list[DeliveryView]:
    return [delivery(d) for d in await campaigns.mine(principal)]


@router.get("/{campaign_id}", summary="A campaign and its deliveries")
async def get_campaign(
    campaign_id: str, principal: Reviewer, campaigns: CampaignsDep
) -> CampaignView:
    doc, deliveries = await campaigns.get(campaign_id)
    return campaign(doc, deliveries)


@router.post(
    "/{campaign_id}/deliveries/{driver_id}/confirm",
    summary="The campaign's station confirms it handed the gift to the driver",
)
async def confirm(
    campaign_id: str, driver_id: str, principal: Caller, campaigns: CampaignsDep
) -> DeliveryView:
    return delivery(await campaigns.confirm(principal, campaign_id, driver_id))


visits_router = APIRouter(prefix="/v1/aid", tags=["aid"])


async def _visits(request: Request) -> HardshipVisits:
    visits: HardshipVisits = request.app.state.aid_visits
    return visits


VisitsDep = Annotated[HardshipVisits, Depends(_visits)]


class VisitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver_id: str = Field(min_length=1, max_length=64)
    visited_on: date
    visitors: list[str] = Field(min_length=1, max_length=8, description="Who went (names, units)")
    findings: str = Field(min_length=1, max_length=2000, description="Kept in cases only")
    follow_up: Literal["none", "aid", "case"] = "none"


class VisitView(BaseModel):
    visit_id: str
    driver_id: str
    visited_on: date
    visitors: list[str]
    findings: str
    follow_up: Literal["none", "aid", "case"]
    recorded_by: str
    recorded_at: datetime


def visit_view(doc: dict[str, Any]) -> VisitView:
    return VisitView(
        **{k: doc[k] for k in VisitView.model_fields if k != "visit_id"}, visit_id=doc["_id"]
    )


@visits_router.post("/visits", status_code=201, summary="Record a hardship visit (困难走访)")
async def record_visit(body: VisitBody, principal: Reviewer, visits: VisitsDep) -> VisitView:
    return visit_view(await visits.record(principal, Visit(**body.model_dump())))


@visits_router.get("/drivers/{driver_id}/visits", summary="A driver's hardship visits")
async def driver_visits(driver_id: str, principal: Reviewer, visits: VisitsDep) -> list[VisitView]:
    return [visit_view(doc) for doc in await visits.of_driver(driver_id)]
