"""HTTP for audited PII reveal, the access audit and the review queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from common.pagination import PageQuery
from common.problems import Problem
from registry.api.dependencies import (
    AuditReader,
    DriversReader,
    DriversWriter,
    PiiReader,
    RegistryDep,
    actor,
    after_id,
    page_of,
    visible,
)
from registry.api.oversight_schemas import (
    AccessRecordPage,
    AccessRecordView,
    ResolutionRequest,
    RevealRequest,
    RevealView,
    ReviewPage,
    ReviewView,
)
from registry.oversight import ReviewStatus

router = APIRouter(prefix="/v1", tags=["reviews and PII access"])


@router.post(
    "/drivers/{driver_id}/pii/reveal",
    response_model=RevealView,
    summary="Reveal a full value (operators with scope pii:read; every call is audited)",
    description=(
        "`field`: national_id, phone or family. `purpose` is a code and `case_ref` a plain "
        "reference, so the audit record never holds a personal value."
    ),
)
async def reveal(
    driver_id: str, body: RevealRequest, principal: PiiReader, registry: RegistryDep
) -> RevealView:
    if not principal.has_scope("pii:read"):
        raise Problem(403, "Forbidden", "revealing personal data needs the pii:read scope")
    await visible(registry, principal, driver_id)
    value = await registry.pii_access.reveal(
        driver_id, body.field, body.purpose, body.case_ref, actor(principal)
    )
    return RevealView(driver_id=driver_id, field=body.field, value=value)


@router.get(
    "/pii-access",
    response_model=AccessRecordPage,
    summary="The access audit: who revealed which field of which driver, when and why",
)
async def access_records(
    principal: AuditReader,
    registry: RegistryDep,
    page: PageQuery,
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
) -> AccessRecordPage:
    found = await registry.pii_access.access_records(
        driver_id=driver_id, after=after_id(page), limit=page.limit
    )
    return page_of(AccessRecordPage, found, AccessRecordView.of, lambda r: r.access_id, page)


@router.get(
    "/reviews",
    response_model=ReviewPage,
    summary="The review queue: registration data that disagreed with the register",
)
async def list_reviews(
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    status: ReviewStatus | None = "open",
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
) -> ReviewPage:
    found = await registry.reviews.items(
        status=status, driver_id=driver_id, after=after_id(page), limit=page.limit
    )
    return page_of(ReviewPage, found, ReviewView.of, lambda r: r.review_id, page)


@router.post(
    "/reviews/{review_id}/resolution",
    response_model=ReviewView,
    summary="Accept the proposed value (applied and announced) or reject it",
)
async def resolve_review(
    review_id: str, body: ResolutionRequest, principal: DriversWriter, registry: RegistryDep
) -> ReviewView:
    return ReviewView.of(await registry.reviews.resolve(review_id, body.decision, actor(principal)))
