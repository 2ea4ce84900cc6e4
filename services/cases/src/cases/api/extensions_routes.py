"""Clocks over HTTP: asking for the round's one extension and deciding on it."""

from __future__ import annotations

from fastapi import APIRouter

from cases.api.dependencies import CasesDep, Operator, view
from cases.api.schemas import CaseView, ExtensionDecision, ExtensionRequest
from cases.extensions import ExtensionAsked

router = APIRouter(prefix="/v1")


@router.post(
    "/cases/{case_id}/extension",
    response_model=CaseView,
    tags=["clocks"],
    summary="Ask for the round's one extension (handler, before the deadline)",
)
async def request_extension(
    case_id: str, body: ExtensionRequest, principal: Operator, service: CasesDep
) -> CaseView:
    asked = ExtensionAsked(body.working_days, body.reason_code, body.note)
    return view(principal, await service.extensions.request(principal, case_id, asked))


@router.post(
    "/cases/{case_id}/extension/decision",
    response_model=CaseView,
    tags=["clocks"],
    summary="Approve or refuse the extension (supervisor, before the deadline)",
)
async def decide_extension(
    case_id: str, body: ExtensionDecision, principal: Operator, service: CasesDep
) -> CaseView:
    return view(principal, await service.extensions.decide(principal, case_id, body.approve))
