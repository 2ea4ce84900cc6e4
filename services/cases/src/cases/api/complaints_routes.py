"""Complaints over HTTP: the driver's consent to be named to the respondent, compensation
for an upheld complaint, and collectives of complaints about one respondent.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cases.api.dependencies import Caller, CasesDep, Operator, view
from cases.api.schemas import (
    CaseView,
    CollectiveRequest,
    CollectiveView,
    CompensationRequest,
    ConsentRequest,
)
from cases.collectives import Collective
from cases.four_eyes import GOODWILL
from common.approvals import Proposal
from common.approvals_api import ACCEPTED, propose
from common.auth import Principal

router = APIRouter(prefix="/v1")


@router.put(
    "/cases/{case_id}/consent",
    response_model=CaseView,
    tags=["cases"],
    summary="The driver lets the respondent see who complains (or withdraws that)",
)
async def consent(
    case_id: str, body: ConsentRequest, principal: Caller, service: CasesDep
) -> CaseView:
    case = await service.intake.set_consent(principal, case_id, body.reveal_identity)
    return view(principal, case)


@router.post(
    "/cases/{case_id}/compensation",
    response_model=CaseView,
    tags=["cases"],
    summary="Approve restoration or goodwill points for an upheld programme complaint",
    description="Goodwill of more than `goodwill_approval_threshold` points answers 202 with a "
    "pending approval request: a second supervisor (cases:supervise, another person) approves "
    "it at /v1/approvals/{approval_id}/approve, which grants it once.",
    responses=ACCEPTED,
)
async def compensate(
    case_id: str,
    body: CompensationRequest,
    request: Request,
    principal: Operator,
    service: CasesDep,
) -> CaseView | JSONResponse:
    threshold = request.app.state.settings.goodwill_approval_threshold
    if body.kind == "goodwill" and body.amount > threshold:
        await service.compensations.check(principal, case_id, body.kind, body.amount)
        proposal = Proposal(
            area=GOODWILL,
            command={"case_id": case_id, "kind": body.kind, "amount": body.amount},
            reason=f"goodwill of {body.amount} points for case {case_id}",
            summary=f"goodwill of {body.amount} points for case {case_id}",
            subject=case_id,
            request_key=request.headers.get("Idempotency-Key"),
        )
        return await propose(request.app.state.approvals, proposal, principal)
    case = await service.compensations.grant(principal, case_id, body.kind, body.amount)
    return view(principal, case)


def _collective(principal: Principal, group: Collective) -> CollectiveView:
    return CollectiveView(
        collective_id=group.collective_id,
        respondent=group.respondent,
        drivers=group.drivers,
        open=group.open,
        cases=[view(principal, c) for c in group.cases],
    )


@router.post(
    "/collectives",
    response_model=CollectiveView,
    tags=["cases"],
    summary="Link complaints about one respondent into a collective (never merges them)",
)
async def link_collective(
    body: CollectiveRequest, principal: Operator, service: CasesDep
) -> CollectiveView:
    return _collective(principal, await service.collectives.link(principal, body.case_ids))


@router.get(
    "/collectives/{collective_id}",
    response_model=CollectiveView,
    tags=["cases"],
    summary="A collective: the linked complaints, each still its own case",
)
async def get_collective(
    collective_id: str, principal: Operator, service: CasesDep
) -> CollectiveView:
    return _collective(principal, await service.collectives.get(principal, collective_id))


@router.delete(
    "/collectives/{collective_id}/cases/{case_id}",
    response_model=CollectiveView,
    tags=["cases"],
    summary="Take a case out of a collective",
)
async def unlink_collective(
    collective_id: str, case_id: str, principal: Operator, service: CasesDep
) -> CollectiveView:
    group = await service.collectives.unlink(principal, collective_id, case_id)
    return _collective(principal, group)
