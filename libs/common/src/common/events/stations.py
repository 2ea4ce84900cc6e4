"""Events the stations service announces on ``stations.events``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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


class RestNudged(EventData):
    """A driver past the continuous-driving threshold is nudged to rest at the nearest open
    station with a free bed or parking space within the service circle. No position: only
    the station and how far it is."""

    event_type: ClassVar[str] = "rest.nudged.v1"

    driver_id: str
    nudge_id: str = Field(description="One per driver and driving session; the event's id too")
    continuous_minutes: int = Field(ge=0, description="Driven without a rest when nudged")
    station_id: str
    station_name: str = Field(description="The station's display name (Chinese)")
    distance_km: float = Field(ge=0, description="Straight-line distance, one decimal")
    travel_minutes: int = Field(ge=0, description="Estimated minutes to reach it by truck")
    check_in_by: AwareDatetime = Field(description="A rest check-in there until then earns")
    nudged_at: AwareDatetime = Field(description="When the nudge was decided")


class RestTaken(EventData):
    """The nudged driver checked in at the named station in time (points earn by rule)."""

    event_type: ClassVar[str] = "rest.taken.v1"

    driver_id: str
    nudge_id: str = Field(description="The rest.nudged.v1 this rest answers")
    station_id: str
    checkin_id: str
    rested_at: AwareDatetime = Field(description="When the driver checked in")


class DrivingReported(EventData):
    """Whether a driver is at the wheel, from a partner's ``driving.session.v1``, for notify's
    "never during driving" rule: announced only for an active driver with the location consent,
    at a session's first report, every ``driving_report_every_minutes`` after, and when it ends.
    No position."""

    event_type: ClassVar[str] = "driving.reported.v1"

    driver_id: str
    session_id: str = Field(description="The partner's id of this continuous drive")
    state: Literal["driving", "ended"] = Field(
        description="driving: at the wheel when reported; ended: the drive is over"
    )
    continuous_minutes: int = Field(ge=0, description="Driven without a rest when reported")
    reported_at: AwareDatetime = Field(description="When the partner measured it")


class StationsErasureCompleted(ErasureCompleted):
    """The stations service holds nothing personal about the erased driver any more."""

    event_type: ClassVar[str] = "stations.erasure_completed.v1"


class LifecycleItemFacts(BaseModel):
    """One life-cycle catalogue item as other services need it: no descriptions."""

    model_config = ConfigDict(frozen=True)

    code: str
    stage: str
    name_zh: str
    name: str
    service_codes: list[str] = Field(default_factory=list)
    case_categories: list[str] = Field(default_factory=list)
    driver_kinds: list[str] | None = Field(default=None, description="Absent: every driver")
    retired: bool = False


class LifecycleCatalogueVersioned(EventData):
    """A new version of the life-cycle service catalogue (subject ``lifecycle``): every item
    with the case categories and service codes that deliver it, so cases can label a category
    with the items it serves. Item codes are stable across versions."""

    event_type: ClassVar[str] = "lifecycle.catalogue_versioned.v1"

    version: int = Field(ge=1, description="The catalogue's version number (1: the seed)")
    previous_version: int | None = Field(
        default=None, description="The version it replaces; absent for the seed"
    )
    label: str = Field(description="Which list it grew from, e.g. `beilun-2023`")
    changed_items: list[str] = Field(description="Codes added, changed or retired by it")
    items: list[LifecycleItemFacts] = Field(
        description="Every item of the version, retired ones included"
    )
    versioned_at: AwareDatetime = Field(description="When the version was made")
