"""Oversight: audited reveals, the access log and the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from common.schemas import Code, RequestModel
from registry.oversight import (
    AccessRecord,
    RevealField,
    RevealPurpose,
    Review,
    ReviewDecision,
    ReviewStatus,
)


class RevealRequest(RequestModel):
    field: RevealField
    purpose: RevealPurpose
    case_ref: Code | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )


class ResolutionRequest(RequestModel):
    decision: ReviewDecision


class RevealView(BaseModel):
    driver_id: str
    field: RevealField
    value: Any


class AccessRecordView(BaseModel):
    access_id: str
    driver_id: str
    field: RevealField
    purpose: RevealPurpose
    case_ref: str | None
    by: str
    role: str
    at: datetime

    @classmethod
    def of(cls, record: AccessRecord) -> AccessRecordView:
        return cls(**record.model_dump())


class AccessRecordPage(BaseModel):
    items: list[AccessRecordView]
    next_cursor: str | None = None


class ReviewView(BaseModel):
    review_id: str
    driver_id: str
    source: str
    field: str
    reason: str
    current: str | None
    proposed: str
    partner_id: str | None
    status: ReviewStatus
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def of(cls, review: Review) -> ReviewView:
        return cls(**review.model_dump(exclude={"proposed_enc"}))


class ReviewPage(BaseModel):
    items: list[ReviewView]
    next_cursor: str | None = None
