"""The mutual-help board over HTTP (docs/mutual-help.md).

Everyone signed in reads the open needs: category, area, window and public summary. Who posted,
who claimed, the contacts and the details are shown to the driver and the helper only (the
contacts once claimed), and to the committee (help:manage) without the contacts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cases.api.dependencies import Caller
from cases.mutual_help import Feedback, MutualHelp, NeedPost, is_helper, is_poster
from common.auth import Principal
from common.events.mutual_help import HelpCategory, HelperKind
from common.schemas import AwareInstant

router = APIRouter(prefix="/v1/help", tags=["mutual help"])


async def _help(request: Request) -> MutualHelp:
    board: MutualHelp = request.app.state.help
    return board


HelpDep = Annotated[MutualHelp, Depends(_help)]


class NeedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver_id: str = Field(min_length=1, max_length=64)
    category: HelpCategory
    area: str = Field(min_length=1, max_length=60, description="Coarse and public")
    summary: str = Field(min_length=1, max_length=200, description="Public: no personal data")
    window_start: AwareInstant
    window_end: AwareInstant
    claim_by: AwareInstant | None = Field(
        default=None, description="Defaults to window_start; then the committee takes it"
    )
    contact: str = Field(
        min_length=1, max_length=100, description="Shown to the helper only, once claimed"
    )
    details: str = Field(default="", max_length=1000, description="Shown to the helper only")


class ClaimBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: str = Field(min_length=1, max_length=100, description="Shown to the driver only")
    helper_kind: Literal["unit", "party_member", "village"] | None = Field(
        default=None, description="Operators only: in which capacity they help"
    )


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["done", "failed"]
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class NeedView(BaseModel):
    need_id: str
    status: str
    category: HelpCategory
    area: str
    summary: str
    window_start: datetime
    window_end: datetime
    claim_by: datetime
    posted_at: datetime
    driver_id: str | None = None
    helper_kind: HelperKind | None = None
    helper_id: str | None = None
    contact: str | None = Field(default=None, description="The driver's, for the helper")
    details: str | None = Field(default=None, description="For the helper")
    helper_contact: str | None = Field(default=None, description="The helper's, for the driver")
    feedback: dict[str, Any] | None = None
    case_id: str | None = None


def view(principal: Principal, doc: dict[str, Any], revealed: dict[str, str]) -> NeedView:
    public = NeedView(
        need_id=doc["_id"],
        **{k: doc[k] for k in ("status", "category", "area", "summary", "posted_at")},
        **{k: doc[k] for k in ("window_start", "window_end", "claim_by")},
    )
    staff = principal.role == "operator" and principal.has_scope("help:manage")
    if not (staff or is_poster(principal, doc) or is_helper(principal, doc)):
        return public
    helper = doc.get("helper") or {}
    return public.model_copy(
        update={
            "driver_id": doc["driver_id"],
            "helper_kind": helper.get("kind"),
            "helper_id": helper.get("id"),
            "feedback": doc.get("feedback"),
            "case_id": doc.get("case_id"),
            **revealed,
        }
    )


@router.post("/needs", status_code=201, summary="Post a need (the driver, or staff for them)")
async def post_need(body: NeedBody, principal: Caller, board: HelpDep) -> NeedView:
    need = NeedPost(**body.model_dump())
    return view(principal, await board.post(principal, need), {})


@router.get("/needs", summary="The board: open needs nobody has claimed yet")
async def list_needs(
    principal: Caller,
    board: HelpDep,
    area: Annotated[str | None, Query(max_length=60)] = None,
    category: HelpCategory | None = None,
) -> list[NeedView]:
    needs = await board.board(area=area, category=category)
    return [view(principal, doc, {}) for doc in needs]


@router.get("/needs/mine", summary="The needs I posted and those I claimed")
async def my_needs(principal: Caller, board: HelpDep) -> list[NeedView]:
    return [view(principal, doc, {}) for doc in await board.mine(principal)]


@router.get("/needs/{need_id}", summary="One need; its parties see each other's contact")
async def get_need(need_id: str, principal: Caller, board: HelpDep) -> NeedView:
    doc = await board.get(principal, need_id)
    return view(principal, doc, board.revealed(principal, doc))


@router.post("/needs/{need_id}/claim", summary="Claim a need (drivers, stations, help:claim)")
async def claim_need(need_id: str, body: ClaimBody, principal: Caller, board: HelpDep) -> NeedView:
    doc = await board.claim(principal, need_id, body.contact, body.helper_kind)
    return view(principal, doc, board.revealed(principal, doc))


@router.post("/needs/{need_id}/close", summary="Done (the driver confirms) or failed")
async def close_need(need_id: str, body: CloseBody, principal: Caller, board: HelpDep) -> NeedView:
    feedback = Feedback(outcome=body.outcome, rating=body.rating, comment=body.comment)
    doc = await board.close(principal, need_id, feedback)
    return view(principal, doc, {})
