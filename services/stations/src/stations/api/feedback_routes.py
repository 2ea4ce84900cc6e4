"""Drivers rate their visits; a station's rating summary."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from common.auth import Principal, require_roles
from common.problems import Problem
from stations.api.dependencies import Everyone, Service
from stations.api.schemas import (
    FeedbackRequest,
    FeedbackView,
    RatedComment,
    RatingSummary,
)

router = APIRouter(prefix="/v1", tags=["stations"])


@router.post(
    "/checkins/{checkin_id}/feedback",
    status_code=201,
    response_model=FeedbackView,
    summary="A driver rates their visit (1-5 and a comment)",
)
async def rate_visit(
    checkin_id: str,
    body: FeedbackRequest,
    principal: Annotated[Principal, Depends(require_roles("driver"))],
    service: Service,
) -> FeedbackView:
    if principal.driver_id is None:
        raise Problem(403, "Forbidden", "the token names no driver")
    feedback = await service.ratings.rate_visit(
        checkin_id, principal.driver_id, body.rating, body.comment
    )
    return FeedbackView.of(feedback)


@router.get(
    "/stations/{station_id}/feedback",
    response_model=RatingSummary,
    summary="A station's average rating and recent comments",
)
async def station_feedback(
    station_id: str,
    _: Everyone,
    service: Service,
    recent: Annotated[int, Query(ge=0, le=100)] = 10,
) -> RatingSummary:
    count, average, latest = await service.ratings.ratings(station_id, recent)
    return RatingSummary(
        station_id=station_id,
        count=count,
        average=average,
        recent=[RatedComment.of(f) for f in latest],
    )
