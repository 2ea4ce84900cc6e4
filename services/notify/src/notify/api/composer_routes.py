"""HTTP for the broadcast composer (operators with notify:broadcast): how many drivers a
broadcast would reach before it is sent, and the deliveries that failed after.

The count is the resolver's own query (``Broadcasts.segment_query``): active drivers of the
segment, the registry's subtree of a grid or organisation, and for a marketing category only
drivers who gave the ``notifications`` consent. A failure names its driver masked: the composer
needs to see that and why deliveries fail, not to whom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from common.pagination import PageQuery
from common.schemas import RequestModel
from notify.api.dependencies import Broadcaster, NotifyDep, newest_after, newest_cursor
from notify.api.schemas import SegmentRequest
from notify.domain import Category
from notify.records import Document
from notify.segments import MARKETING_CATEGORIES

router = APIRouter(prefix="/v1", tags=["broadcasts"])


class AudienceRequest(RequestModel):
    category: Category
    segment: SegmentRequest


class AudienceView(BaseModel):
    recipients: int = Field(description="Drivers the broadcast would reach if sent now")
    in_segment: int = Field(description="Active drivers of the segment, consent or not")
    consent_needed: bool = Field(
        description="A marketing category: only drivers with the notifications consent"
    )


class FailureView(BaseModel):
    # No notification id: a broadcast's names its driver in full.
    driver: str = Field(description="The driver's id, masked")
    channel: str
    category: str
    reason: str | None
    attempts: int
    broadcast_id: str | None
    failed_at: datetime

    @classmethod
    def of(cls, doc: Document) -> FailureView:
        return cls(
            driver=masked_id(str(doc["driver_id"])),
            channel=doc["channel"],
            category=doc["category"],
            reason=doc.get("reason"),
            attempts=int(doc.get("attempts", 0)),
            broadcast_id=doc.get("broadcast_id"),
            failed_at=doc["updated_at"],
        )


class FailuresPage(BaseModel):
    items: list[FailureView]
    next_cursor: str | None


SHOWN_HEAD, SHOWN_TAIL = 4, 2


def masked_id(driver_id: str) -> str:
    """Enough to tell two drivers apart on one page, not to look either up."""
    hidden = len(driver_id) - SHOWN_HEAD - SHOWN_TAIL
    if hidden <= 0:
        return "*" * len(driver_id)
    return f"{driver_id[:SHOWN_HEAD]}{'*' * hidden}{driver_id[-SHOWN_TAIL:]}"


@router.post(
    "/broadcasts/audience",
    response_model=AudienceView,
    summary="How many drivers a broadcast would reach now (nothing is sent)",
)
async def audience(body: AudienceRequest, _: Broadcaster, notify: NotifyDep) -> AudienceView:
    recipients, in_segment = await notify.broadcasts.audience(body.segment, body.category)
    return AudienceView(
        recipients=recipients,
        in_segment=in_segment,
        consent_needed=body.category in MARKETING_CATEGORIES,
    )


@router.get(
    "/deliveries/failed",
    response_model=FailuresPage,
    tags=["deliveries"],
    summary="Deliveries that failed for good, the latest first, with the reason",
)
async def failures(
    _: Broadcaster,
    notify: NotifyDep,
    page: PageQuery,
    broadcast_id: Annotated[str | None, Query(max_length=100)] = None,
) -> FailuresPage:
    found = await notify.inbox.failures(broadcast_id, after=newest_after(page), limit=page.limit)
    last = found[-1] if len(found) == page.limit else None
    cursor = newest_cursor(page, last["updated_at"], last["_id"]) if last else None
    return FailuresPage(items=[FailureView.of(d) for d in found], next_cursor=cursor)
