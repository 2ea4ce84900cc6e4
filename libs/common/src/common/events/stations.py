"""Events the stations service announces on ``stations.events``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from common.events.base import EventData
from common.events.erasure import ErasureCompleted


class ServiceUsed(EventData):
    event_type: ClassVar[str] = "service.used.v1"

    driver_id: str
    station_id: str
    service_code: str = Field(min_length=1, max_length=64)
    used_at: AwareDatetime
    checkin_id: str | None = None
    cause_source: str | None = Field(
        default=None, description="The partner event that reported this use (kiosks): source"
    )
    cause_id: str | None = Field(
        default=None, description="The partner event that reported this use (kiosks): id"
    )


class ActivityAttended(EventData):
    event_type: ClassVar[str] = "activity.attended.v1"

    driver_id: str
    station_id: str
    activity_id: str
    activity_kind: str
    attended_at: AwareDatetime


class StationsErasureCompleted(ErasureCompleted):
    """The stations service holds nothing personal about the erased driver any more."""

    event_type: ClassVar[str] = "stations.erasure_completed.v1"
