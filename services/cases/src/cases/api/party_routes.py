"""Party-member life over HTTP (docs/party-life.md): branches schedule meetings and report them
held, the committee's staff set member-point rules, secretaries read their branch's figures and
members their own statement. Who may, for whose branch or member, is the use case's question."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cases.party import MeetingPlan, PartyLife
from cases.party_points import RuleChange
from common.auth import Principal
from common.authz import require_scope
from common.events.party import MeetingKind, MemberPointsCause
from common.outbox import OUTBOX_HIDDEN
from common.schemas import AwareInstant

router = APIRouter(prefix="/v1/party", tags=["party-member life"])

Branch = Annotated[Principal, Depends(require_scope("party:branch"))]
Manager = Annotated[Principal, Depends(require_scope("party:manage"))]
Reader = Annotated[Principal, Depends(require_scope("party:branch", or_roles=("driver",)))]
Year = Annotated[str | None, Query(pattern=r"^20\d{2}$", description="YYYY; default this year")]
RuleId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


async def _party(request: Request) -> PartyLife:
    party: PartyLife = request.app.state.party
    return party


PartyDep = Annotated[PartyLife, Depends(_party)]


def _year(year: str | None) -> str:
    return year or f"{datetime.now(UTC):%Y}"


class MeetingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch_id: str = Field(min_length=1, max_length=64)
    kind: MeetingKind = Field(
        description="branch_assembly 支部党员大会, committee 支委会, group 党小组会, "
        "party_lecture 党课, party_day 主题党日"
    )
    title: str = Field(min_length=1, max_length=100)
    starts_at: AwareInstant
    ends_at: AwareInstant
    join_ref: str = Field(
        min_length=1, max_length=200, description="The meeting system's opaque reference"
    )


class RuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: MemberPointsCause
    points: int = Field(ge=1, le=100, description="Member points per fact")
    min_minutes: int = Field(default=0, ge=0, le=24 * 60, description="Shorter facts earn 0")
    cap_per_month: int = Field(ge=1, le=1000, description="At most this many a month per member")
    active: bool = True


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("_id", *OUTBOX_HIDDEN)}
    return {"id": doc["_id"], **out}


@router.post("/meetings", status_code=201, summary="Schedule a branch meeting (its secretary)")
async def schedule(body: MeetingBody, principal: Branch, party: PartyDep) -> dict[str, Any]:
    plan = MeetingPlan(**body.model_dump())
    return _public(await party.schedule(principal, plan))


@router.get("/branches/{branch_id}/meetings", summary="A branch's meetings, newest first")
async def meetings(
    branch_id: str,
    principal: Branch,
    party: PartyDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    return [_public(doc) for doc in await party.meetings(principal, branch_id, limit)]


@router.get("/meetings/{meeting_id}", summary="A meeting with each member's minutes")
async def meeting(meeting_id: str, principal: Branch, party: PartyDep) -> dict[str, Any]:
    doc = await party.meeting(principal, meeting_id)
    doc["attendance"] = [
        {k: a.get(k) for k in ("driver_id", "minutes", "counted")} for a in doc["attendance"]
    ]
    return _public(doc)


@router.post("/meetings/{meeting_id}/held", summary="Report the meeting held (counts attendance)")
async def held(meeting_id: str, principal: Branch, party: PartyDep) -> dict[str, Any]:
    return _public(await party.hold(principal, meeting_id))


@router.get("/branches/{branch_id}/figures", summary="A branch's members' figures for a year")
async def figures(
    branch_id: str, principal: Branch, party: PartyDep, year: Year = None
) -> dict[str, Any]:
    return await party.branch_figures(principal, branch_id, _year(year))


@router.get("/members/{driver_id}/statement", summary="A member's member points and figures")
async def statement(
    driver_id: str, principal: Reader, party: PartyDep, year: Year = None
) -> dict[str, Any]:
    doc = await party.statement(principal, driver_id, _year(year))
    doc["entries"] = [_public(e) for e in doc["entries"]]
    return doc


@router.get("/rules", summary="The member-point rules")
async def rules(principal: Branch, party: PartyDep) -> list[dict[str, Any]]:
    return [_public(doc) for doc in await party.points.rules()]


@router.put("/rules/{rule_id}", summary="Set a member-point rule (party:manage)")
async def put_rule(
    rule_id: RuleId, body: RuleBody, principal: Manager, party: PartyDep
) -> dict[str, Any]:
    return _public(await party.points.put_rule(principal, rule_id, RuleChange(**body.model_dump())))
