"""The service circle as a figure: how many drivers' declared bases are within its minutes of
an open station."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from stations.api.dependencies import Service, StationAdmin

router = APIRouter(prefix="/v1", tags=["stations"])


class CircleCoverageView(BaseModel):
    minutes: int
    active_drivers: int = Field(description="Active drivers the registry announced")
    drivers_with_base: int = Field(
        description="Of them, those who declared a base and consent to location"
    )
    drivers_within: int = Field(description="Bases within the minutes of an open station")
    share: float | None = Field(description="drivers_within / drivers_with_base; null if none")


@router.get(
    "/service-circle",
    response_model=CircleCoverageView,
    summary="The service circle's coverage: drivers' bases within its minutes of a station",
)
async def circle_coverage(
    _: StationAdmin,
    service: Service,
    minutes: Annotated[int | None, Query(ge=1, le=240)] = None,
) -> CircleCoverageView:
    found = await service.circle.coverage(minutes or service.circle_minutes)
    return CircleCoverageView(
        minutes=found.minutes,
        active_drivers=found.active_drivers,
        drivers_with_base=found.drivers_with_base,
        drivers_within=found.drivers_within,
        share=found.share,
    )
