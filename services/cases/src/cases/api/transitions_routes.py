"""The state table over HTTP: one endpoint per case for every transition."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cases.api.dependencies import Caller, CasesDep, view
from cases.api.schemas import ActionRequest, CaseView
from cases.steps import ActionParams

router = APIRouter(prefix="/v1")


@router.post(
    "/cases/{case_id}/transitions/{action}",
    response_model=CaseView,
    tags=["cases"],
    summary="Make a transition of the state table (GET /v1/categories lists them)",
)
async def act(
    case_id: str,
    action: Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")],
    body: ActionRequest,
    principal: Caller,
    service: CasesDep,
) -> CaseView:
    params = ActionParams(**body.model_dump())
    return view(principal, await service.transitions.act(principal, case_id, action, params))
