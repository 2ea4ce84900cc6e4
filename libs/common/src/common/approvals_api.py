"""HTTP for four eyes (``common.approvals``), the same in every service that has areas.

- A write that needs a second person answers **202 Accepted** with the pending request
  (:class:`ApprovalView`) and ``Location: /v1/approvals/{approval_id}``; nothing has happened yet.
- ``GET /v1/approvals?area=…&state=pending`` lists an area's requests oldest first (a console's
  queue); ``GET /v1/approvals/{id}`` shows one with its audit trail.
- ``POST /v1/approvals/{id}/approve`` (a second person with the area's checker scope, or the
  driver for a confirmation) runs the command once and answers the request with its result;
  ``POST /v1/approvals/{id}/refuse`` records a refusal and runs nothing.

Refusals are problem+json: 403 when the caller may not decide (the scope it lacks is named) or
is the maker, 404 for an unknown (or invisible) request, 409 when it is decided or expired.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints

from common.approvals import (
    ApprovalNotFound,
    ApprovalRequest,
    Approvals,
    AuditStep,
    Proposal,
    State,
)
from common.auth import Principal, require_roles
from common.pagination import AfterTime, PageQuery
from common.schemas import RequestModel, Text

Decider = Annotated[Principal, Depends(require_roles("operator", "driver"))]
Note = Annotated[Text, StringConstraints(min_length=1, max_length=500)]


class ApprovalView(BaseModel):
    approval_id: str
    area: str
    state: State
    summary: str
    subject: str | None
    command: dict[str, Any]
    maker: str
    reason: str
    created_at: datetime
    expires_at: datetime
    expired: bool
    checker: str | None
    decided_at: datetime | None
    decision_note: str | None
    executed_at: datetime | None
    result: dict[str, Any] | None
    failure: str | None
    audit: list[AuditStep]

    @classmethod
    def of(cls, request: ApprovalRequest, now: datetime) -> ApprovalView:
        fields = request.model_dump()
        return cls(**fields, expired=request.expired(now))


class ApprovalPage(BaseModel):
    items: list[ApprovalView]
    next_cursor: str | None


class ApproveIn(RequestModel):
    note: Note | None = None


class RefuseIn(RequestModel):
    reason: Note


async def _approvals(request: Request) -> Approvals:
    approvals: Approvals = request.app.state.approvals
    return approvals


ApprovalsDep = Annotated[Approvals, Depends(_approvals)]

ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ApprovalView,
        "description": "Needs a second person: a pending approval request; nothing happened "
        "yet (see /v1/approvals/{approval_id})",
    }
}


async def propose(approvals: Approvals, proposal: Proposal, maker: Principal) -> JSONResponse:
    """Record a maker's proposal and answer 202 with it (retried with its key: the same one)."""
    request, _ = await approvals.propose(proposal, maker)
    body = ApprovalView.of(request, approvals.now()).model_dump(mode="json")
    location = f"/v1/approvals/{request.approval_id}"
    return JSONResponse(body, status_code=202, headers={"Location": location})


router = APIRouter(prefix="/v1/approvals", tags=["approvals (four eyes)"])


@router.get("", response_model=ApprovalPage, summary="An area's requests, oldest first")
async def list_approvals(
    principal: Decider,
    approvals: ApprovalsDep,
    area: Annotated[str, Query(max_length=50)],
    page: PageQuery,
    state: State = "pending",
) -> ApprovalPage:
    position = page.after(AfterTime)
    after = (position.at, position.id) if position is not None else None
    found = await approvals.listing(
        principal, area=area, state=state, after=after, limit=page.limit
    )
    now = approvals.now()
    last = AfterTime(at=found[-1].created_at, id=found[-1].approval_id) if found else None
    cursor = page.next_if_full(len(found), last)
    return ApprovalPage(items=[ApprovalView.of(r, now) for r in found], next_cursor=cursor)


@router.get("/{approval_id}", response_model=ApprovalView, summary="One request and its audit")
async def get_approval(
    approval_id: str,
    principal: Decider,
    approvals: ApprovalsDep,
) -> ApprovalView:
    request = await approvals.get(approval_id)
    if not approvals.may_see(principal, request):
        raise ApprovalNotFound("no such approval request")
    return ApprovalView.of(request, approvals.now())


@router.post(
    "/{approval_id}/approve",
    response_model=ApprovalView,
    summary="Approve (a second person): the command runs once; the answer carries its result",
)
async def approve(
    approval_id: str,
    principal: Decider,
    approvals: ApprovalsDep,
    body: ApproveIn | None = None,
) -> ApprovalView:
    request = await approvals.approve(approval_id, principal, (body or ApproveIn()).note)
    return ApprovalView.of(request, approvals.now())


@router.post(
    "/{approval_id}/refuse",
    response_model=ApprovalView,
    summary="Refuse (a second person, or the driver asked to confirm): nothing runs",
)
async def refuse(
    approval_id: str, body: RefuseIn, principal: Decider, approvals: ApprovalsDep
) -> ApprovalView:
    request = await approvals.refuse(approval_id, principal, body.reason)
    return ApprovalView.of(request, approvals.now())
