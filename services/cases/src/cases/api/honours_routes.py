"""Honours over HTTP (docs/honours.md): nominate, the panel's votes, the announcement, and the
public honours list of a month or a year."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cases.api.dependencies import Caller
from cases.honours import MAX_WINNERS, Honours
from common.auth import Principal
from common.authz import require_scope
from common.events.honours import HonourCategory

router = APIRouter(prefix="/v1/honours", tags=["honours"])


async def _honours(request: Request) -> Honours:
    honours: Honours = request.app.state.honours
    return honours


HonoursDep = Annotated[Honours, Depends(_honours)]
Period = Annotated[str, Query(min_length=4, max_length=7, description="YYYY or YYYY-MM")]


class NominationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: HonourCategory
    period: str = Field(min_length=4, max_length=7, description="YYYY-MM monthly, else YYYY")
    driver_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500, description="Read by the panel only")


class AnnounceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: HonourCategory
    period: str = Field(min_length=4, max_length=7)
    seats: int = Field(ge=1, le=MAX_WINNERS, description="How many winners at most")
    display_names: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_WINNERS * 4,
        description="driver_id -> how the public announcement names the winner (王师傅): "
        "1-20 characters, no phone or ID number; a winner without one is named without a name",
    )


class PanelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=50, description="The panel members' token subjects (sub)"
    )


class NominationView(BaseModel):
    nomination_id: str
    round: str
    driver_id: str
    nominators: list[dict[str, Any]]


class Winner(BaseModel):
    driver_id: str
    votes: int
    display_name: str | None = None


class RoundView(BaseModel):
    category: HonourCategory
    period: str
    winners: list[Winner]
    panel_size: int
    announced_at: datetime


def nomination_view(doc: dict[str, Any]) -> NominationView:
    return NominationView(
        nomination_id=doc["_id"],
        round=doc["round"],
        driver_id=doc["driver_id"],
        nominators=doc["nominators"],
    )


def round_view(doc: dict[str, Any]) -> RoundView:
    return RoundView(**{k: doc[k] for k in RoundView.model_fields})


@router.post("/nominations", status_code=201, summary="Nominate a driver (drivers, stations, orgs)")
async def nominate(body: NominationBody, principal: Caller, honours: HonoursDep) -> dict[str, str]:
    doc = await honours.nominate(principal, body.category, body.period, body.driver_id, body.reason)
    return {"nomination_id": doc["_id"], "round": doc["round"]}


@router.get("/nominations", summary="A round's nominations (panel and secretary)")
async def nominations(
    category: HonourCategory, period: Period, principal: Caller, honours: HonoursDep
) -> list[NominationView]:
    docs = await honours.nominations(principal, category, period)
    return [nomination_view(doc) for doc in docs]


@router.post(
    "/nominations/{nomination_id}/votes",
    status_code=201,
    summary="A panel member's one vote in a round (honours:vote)",
)
async def vote(nomination_id: str, principal: Caller, honours: HonoursDep) -> dict[str, str]:
    doc = await honours.vote(principal, nomination_id)
    return {"nomination_id": doc["_id"], "round": doc["round"]}


@router.put(
    "/rounds/{category}/{period}/panel",
    summary="Name a round's panel before its first vote (honours:manage)",
)
async def name_panel(
    category: HonourCategory,
    period: str,
    body: PanelBody,
    principal: Annotated[Principal, Depends(require_scope("honours:manage"))],
    honours: HonoursDep,
) -> dict[str, Any]:
    return await honours.name_panel(principal, category, period, body.members)


@router.post("/rounds", status_code=201, summary="Announce a round's winners (honours:manage)")
async def announce(body: AnnounceBody, principal: Caller, honours: HonoursDep) -> RoundView:
    doc = await honours.announce(
        principal, body.category, body.period, body.seats, body.display_names
    )
    return round_view(doc)


@router.get("", summary="The public honours list of a month (YYYY-MM) or a year (YYYY)")
async def honours_list(period: Period, principal: Caller, honours: HonoursDep) -> list[RoundView]:
    return [round_view(doc) for doc in await honours.public_list(period)]
