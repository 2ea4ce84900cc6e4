"""HTTP for erasing a person who is not a driver (four eyes, like a driver's erasure)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from common.approvals_api import ACCEPTED, propose
from common.requests import IdempotencyKey
from registry.api.dependencies import Eraser, RegistryDep
from registry.api.schemas import EraseRequest
from registry.four_eyes import PERSON_ERASURE, erasure_proposal

router = APIRouter(prefix="/v1", tags=["district: trees, people, route grids"])


@router.post(
    "/people/{person_id}/erasure",
    status_code=202,
    response_model=None,
    summary="Ask to erase a person's personal data; a second security officer approves it",
    description=(
        "For people who are not drivers (social workers, instructors, officials). Answers 202 "
        "with a pending approval request (area person_erasure): nothing is erased until a "
        "second person with drivers:erase approves it (POST /v1/approvals/{approval_id}/"
        "approve; the maker cannot). The approval removes the name, ends every role the "
        "person holds (each announced as organisation.person_dismissed.v1) and deletes stored "
        "answers to retried requests that named them; the pseudonymous id, kind and dates "
        "stay. Safe to repeat; 404 for an unknown person."
    ),
    responses=ACCEPTED,
)
async def erase_person(
    person_id: str,
    body: EraseRequest,
    request: Request,
    principal: Eraser,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    await registry.district.get_person(person_id)
    proposal = erasure_proposal(PERSON_ERASURE, person_id, body.reason, idempotency_key)
    return await propose(request.app.state.approvals, proposal, principal)
