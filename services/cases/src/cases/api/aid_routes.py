"""Aid applications over HTTP (docs/cases.md "Aid applications").

Drivers apply and read their own applications; staff with ``aid:review`` apply for drivers,
read the queue and a driver's history, and review (the second review by another person).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cases.aid import REVIEW, AidDesk, Application, Decision, is_staff
from cases.aid_kinds import DOCUMENT_MAX_BYTES, Document, Household
from cases.api.dependencies import Caller
from common.auth import Principal
from common.authz import require_scope

router = APIRouter(prefix="/v1/aid", tags=["aid"])
Reviewer = Annotated[Principal, Depends(require_scope(REVIEW))]
Status = Literal["submitted", "first_approved", "granted", "rejected"]


async def _desk(request: Request) -> AidDesk:
    desk: AidDesk = request.app.state.aid
    return desk


DeskDep = Annotated[AidDesk, Depends(_desk)]


class HouseholdBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: int = Field(ge=1, le=30)
    monthly_income_yuan: int = Field(ge=0, le=10_000_000)
    children_in_school: int = Field(default=0, ge=0, le=20)
    elderly_dependants: int = Field(default=0, ge=0, le=20)
    seriously_ill: int = Field(default=0, ge=0, le=20)


class DocumentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    type: str = Field(min_length=1, max_length=40, description="e.g. income_statement")
    size: int = Field(gt=0, le=DOCUMENT_MAX_BYTES)
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class ApplicationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=40)
    household: HouseholdBody
    documents: list[DocumentBody] = Field(default_factory=list, max_length=20)
    statement: str = Field(default="", max_length=1000)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    amount_yuan: int | None = Field(
        default=None, gt=0, description="First review: proposed; second: granted (default the same)"
    )
    note: str = Field(default="", max_length=500)


class ApplicationView(BaseModel):
    application_id: str
    driver_id: str
    kind: str
    status: Status
    on_behalf: bool
    applied_at: datetime
    amount_yuan: int | None = Field(description="Granted; paid outside the system")
    household: dict[str, int]
    documents: list[dict[str, Any]]
    statement: str
    reviews: list[dict[str, Any]] = Field(
        description="Staff see who reviewed; the driver sees each stage's outcome and note"
    )


def view(principal: Principal, doc: dict[str, Any]) -> ApplicationView:
    reviews = doc["reviews"]
    if not is_staff(principal):
        reviews = [{k: v for k, v in r.items() if k != "by"} for r in reviews]
    return ApplicationView(
        application_id=doc["_id"],
        **{k: doc[k] for k in ("driver_id", "kind", "status", "on_behalf", "applied_at")},
        **{k: doc[k] for k in ("amount_yuan", "household", "documents", "statement")},
        reviews=reviews,
    )


@router.get("/kinds", summary="The aid kinds, their rules and largest amounts")
async def kinds(principal: Caller, desk: DeskDep) -> list[dict[str, Any]]:
    return [kind.public() for kind in desk.kinds.values()]


@router.post("/applications", status_code=201, summary="Apply (the driver, or staff for them)")
async def apply(body: ApplicationBody, principal: Caller, desk: DeskDep) -> ApplicationView:
    application = Application(
        driver_id=body.driver_id,
        kind=body.kind,
        household=Household(**body.household.model_dump()),
        documents=[Document(**d.model_dump()) for d in body.documents],
        statement=body.statement,
    )
    return view(principal, await desk.apply(principal, application))


@router.get("/applications", summary="The reviewers' queue")
async def queue(
    principal: Reviewer,
    desk: DeskDep,
    status: Status | None = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> list[ApplicationView]:
    return [view(principal, doc) for doc in await desk.queue(status, kind)]


@router.get("/drivers/{driver_id}/applications", summary="A driver's aid history")
async def history(driver_id: str, principal: Caller, desk: DeskDep) -> list[ApplicationView]:
    return [view(principal, doc) for doc in await desk.history(principal, driver_id)]


@router.get("/applications/{application_id}", summary="One application")
async def get_application(application_id: str, principal: Caller, desk: DeskDep) -> ApplicationView:
    return view(principal, await desk.get(principal, application_id))


@router.post(
    "/applications/{application_id}/review",
    summary="Review: the first proposes an amount, another person grants or rejects",
)
async def review(
    application_id: str, body: ReviewBody, principal: Reviewer, desk: DeskDep
) -> ApplicationView:
    decision = Decision(body.decision == "approve", body.amount_yuan, body.note)
    return view(principal, await desk.review(principal, application_id, decision))
