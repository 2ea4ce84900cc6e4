"""Stations, the service catalogue, anti-abuse rules and the records of visits: pure, no I/O.

Opening hours are in hours.py, distances and the geohash cells in geography.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Re-exported: the bench builds stations and cell queries from the domain.
from common.domain_errors import DomainError
from stations.geography import cell_query as cell_query
from stations.geography import distance_km
from stations.hours import Hours

StationKind = Literal["drivers_home", "rest_stop", "service_centre", "community_station"]
StationStatus = Literal["open", "temporarily_closed", "retired"]
GradeLevel = Literal["1A", "2A", "3A", "4A", "5A"]
Resource = Literal["beds", "parking"]
# The road a station is reached by; its speed (settings.road_speeds_kmh) sets travel minutes.
RoadClass = Literal["port", "urban", "arterial", "expressway"]
# Xuecheng's "1+X+Y" network (seeds/002:35): the 1 hub (交通物流行业党群服务中心, 核心), the X
# drivers' homes (奚仲故里"司机之家", 支撑) and the Y driver posts (红色"司机驿站", 辅助).
NetworkLevel = Literal["hub", "home", "post"]
CheckinStatus = Literal["counted", "duplicate", "flagged", "refused"]
CheckinChannel = Literal["staff", "operator", "kiosk"]
ActivityKind = Literal["market", "training", "health_check", "festival", "legal_clinic", "other"]
Stage = Literal[
    "joining", "work", "family", "schooling", "health", "legal_aid", "skills", "retirement"
]


# --- errors -----------------------------------------------------------------------------------


class StationsError(DomainError):
    """Base of the stations service's domain errors; answers carry the ``code``."""

    code = "stations_error"

    def problem_members(self) -> dict[str, Any]:
        return {"code": self.code}


class StationNotFound(StationsError):
    code = "station_not_found"


class StationExists(StationsError):
    code = "station_exists"


class StationClosed(StationsError):
    code = "station_closed"


class ServiceNotOffered(StationsError):
    code = "service_not_offered"


class UnknownDriver(StationsError):
    code = "unknown_driver"


class DriverDeactivated(StationsError):
    code = "driver_deactivated"


class NoCapacity(StationsError):
    code = "no_capacity"


class CheckinNotFound(StationsError):
    code = "checkin_not_found"


class NothingToRelease(StationsError):
    code = "nothing_to_release"


class ActivityNotFound(StationsError):
    code = "activity_not_found"


class ActivityFull(StationsError):
    code = "activity_full"


class NotRegistered(StationsError):
    code = "not_registered"


class AlreadyAttended(StationsError):
    code = "already_attended"


class CapacityInUse(StationsError):
    code = "capacity_in_use"


class NetworkPlacementInvalid(StationsError):
    code = "network_placement_invalid"


class NetworkHasMembers(StationsError):
    code = "network_has_members"


class FeedbackExists(StationsError):
    code = "feedback_exists"


class NotYourVisit(StationsError):
    code = "not_your_visit"


class CommentRefused(StationsError):
    """A rating's comment every station, driver and operator reads names a phone or ID number."""

    code = "comment_refused"


# --- the service catalogue --------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceType:
    code: str
    name: str
    name_zh: str
    stage: Stage
    resource: Resource | None = None


# The "full life-cycle service" of the seeds: joining, work, family, children's schooling,
# health, legal aid, skills and retirement; rest, showers, laundry and meals are the daily core.
CATALOGUE: tuple[ServiceType, ...] = (
    ServiceType("union_membership", "Trade-union membership", "工会入会", "joining"),
    ServiceType("registration_help", "Registration and ID help", "登记办证", "joining"),
    ServiceType("policy_briefing", "Policy briefing", "政策宣讲", "joining"),
    ServiceType("rest", "Rest lounge", "休息室", "work"),
    ServiceType("bed", "Overnight bed", "住宿床位", "work", "beds"),
    ServiceType("parking", "Truck parking", "集卡停车", "work", "parking"),
    ServiceType("shower", "Hot shower", "热水淋浴", "work"),
    ServiceType("laundry", "Laundry", "洗衣", "work"),
    ServiceType("meals", "Meals and canteen", "就餐", "work"),
    # Beilun's stations "设置集中就餐点及送餐服务 ... 参与培训和议事" (seeds/000:59).
    ServiceType("meal_delivery", "Meal delivery", "送餐服务", "work"),
    ServiceType("deliberation_room", "Deliberation room", "议事室", "work"),
    ServiceType("kitchen", "Shared kitchen and microwave", "共享厨房", "work"),
    ServiceType("reading_room", "Reading room", "图书阅览", "work"),
    ServiceType("gym", "Gym and recreation", "健身娱乐", "work"),
    ServiceType("vehicle_check", "Vehicle check", "车辆检测", "work"),
    ServiceType("child_care", "Children's day care", "子女托管", "family"),
    ServiceType("family_workshop", "Drivers' spouses' workshop", "卡嫂共富工坊", "family"),
    ServiceType("school_admission", "School admission points advice", "入学积分咨询", "schooling"),
    ServiceType("medical_check", "Health check", "健康体检", "health"),
    ServiceType("counselling", "Psychological counselling", "心理咨询", "health"),
    ServiceType("legal_aid", "Legal aid", "法律援助", "legal_aid"),
    ServiceType("labour_mediation", "Labour dispute mediation", "劳动争议调解", "legal_aid"),
    ServiceType("skills_training", "Skills training", "技能培训", "skills"),
    ServiceType("safety_training", "Road-safety training", "安全教育", "skills"),
    ServiceType("career_transfer", "Career transfer help", "转岗帮扶", "skills"),
    ServiceType("social_insurance", "Social insurance desk", "社保办理", "retirement"),
    ServiceType("pension_advice", "Pension advice", "养老保险咨询", "retirement"),
)
SERVICES: dict[str, ServiceType] = {s.code: s for s in CATALOGUE}
STAGES: tuple[Stage, ...] = (
    "joining",
    "work",
    "family",
    "schooling",
    "health",
    "legal_aid",
    "skills",
    "retirement",
)


def resource_of(service_code: str) -> Resource | None:
    service = SERVICES.get(service_code)
    return service.resource if service else None


# --- stations ---------------------------------------------------------------------------------


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class Grade(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: GradeLevel
    graded_on: date
    graded_by: str = Field(min_length=1, max_length=100, examples=["中国公路学会"])


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    phone: str | None = Field(default=None, max_length=30, description="The station's desk")
    person: str | None = Field(default=None, max_length=50)


class Capacity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    beds: int = Field(default=0, ge=0, le=5000)
    parking: int = Field(default=0, ge=0, le=5000)
    showers: int = Field(default=0, ge=0, le=500)


class OfferedService(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    hours: Hours | None = Field(default=None, description="Only when they differ from the station")

    @field_validator("code")
    @classmethod
    def _catalogued(cls, value: str) -> str:
        if value not in SERVICES:
            raise ValueError(f"{value!r} is not in the service catalogue")
        return value


class NetworkPlace(BaseModel):
    """A station's place in a 1+X+Y network: the hub is the network (no parent); a home or a
    post belongs to its hub (``parent_id``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: NetworkLevel
    parent_id: str | None = Field(
        default=None, max_length=64, description="The hub's station_id; null for the hub"
    )


class Station(BaseModel):
    model_config = ConfigDict(frozen=True)

    station_id: str
    name: str
    kind: StationKind
    operator_org: str
    address: str
    location: Location
    hours: Hours
    grade: Grade | None = None
    contact: Contact = Field(default_factory=Contact)
    status: StationStatus = "open"
    road_class: RoadClass = "urban"
    capacity: Capacity = Field(default_factory=Capacity)
    free: dict[Resource, int] = Field(default_factory=dict)
    services: list[OfferedService] = Field(default_factory=list)
    network: NetworkPlace | None = None
    # The partners whose kiosks report uses here (``service.used.v1`` on their topic); a
    # partner's report for any other station is refused.
    kiosk_partners: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    def offered(self, code: str) -> OfferedService | None:
        return next((s for s in self.services if s.code == code), None)

    def is_open(self, moment: datetime) -> bool:
        return self.status == "open" and self.hours.is_open(moment)

    def service_open(self, code: str, moment: datetime) -> bool:
        offered = self.offered(code)
        if offered is None or not self.is_open(moment):
            return False
        return offered.hours is None or offered.hours.is_open(moment)

    def free_of(self, resource: Resource) -> int:
        return self.free.get(resource, 0)


def refuse_use(station: Station, service_code: str, at: datetime) -> None:
    """Raise the reason a service cannot be used at ``at``; return when it can."""
    if station.status != "open":
        raise StationClosed(f"station {station.station_id} is {station.status.replace('_', ' ')}")
    if station.offered(service_code) is None:
        raise ServiceNotOffered(f"station {station.station_id} does not offer {service_code}")
    if not station.hours.is_open(at):
        raise StationClosed(f"station {station.station_id} is outside its opening hours")
    if not station.service_open(service_code, at):
        raise StationClosed(f"{service_code} at {station.station_id} is outside its hours")


# --- anti-abuse -------------------------------------------------------------------------------


class LastSeen(BaseModel):
    model_config = ConfigDict(frozen=True)

    station_id: str
    lat: float
    lng: float
    at: datetime


def implausible_partner_time(
    field: str,
    at: datetime,
    now: datetime,
    *,
    max_future: timedelta,
    max_age: timedelta | None = None,
) -> str | None:
    """Why a time a partner reports cannot be taken as given, or None when it can.

    A future time would become the driver's last use (no impossible travel judged after it) or
    a drive lasting until then; a long-past one would count again beside the uses it repeats.
    The reason names the bound, not the time (a dead letter's details carry no values).
    """
    if at > now + max_future:
        return f"{field} is more than {max_future} ahead of the service's clock"
    if max_age is not None and at < now - max_age:
        return f"{field} is more than {max_age} before the service's clock"
    return None


def impossible_travel(
    last: LastSeen | None,
    station: Station,
    at: datetime,
    *,
    max_speed_kmh: float,
    grace_km: float,
) -> bool:
    """Two uses too far apart for the time between them (either order in time)."""
    if last is None or last.station_id == station.station_id:
        return False
    km = distance_km(last.lat, last.lng, station.location.lat, station.location.lng)
    hours = abs((at - last.at).total_seconds()) / 3600
    return km > grace_km + max_speed_kmh * hours


def derived_id(prefix: str, *parts: str) -> str:
    """An id derived from what identifies a record, so a retry or redelivery finds it."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{prefix}_{digest[:32]}"


# --- check-ins, activities, feedback ----------------------------------------------------------


class Checkin(BaseModel):
    model_config = ConfigDict(frozen=True)

    checkin_id: str
    driver_id: str
    station_id: str
    service_code: str
    used_at: datetime
    recorded_at: datetime
    channel: CheckinChannel
    status: CheckinStatus
    reason: str | None = None
    resource: Resource | None = None
    checked_out_at: datetime | None = None
    kiosk_id: str | None = None


class Activity(BaseModel):
    model_config = ConfigDict(frozen=True)

    activity_id: str
    station_id: str
    kind: ActivityKind
    title: str
    description: str | None = None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    seats_left: int
    registration_required: bool = True
    created_at: datetime


class Feedback(BaseModel):
    model_config = ConfigDict(frozen=True)

    checkin_id: str
    station_id: str
    driver_id: str
    rating: int = Field(ge=1, le=5)
    comment: str | None = None
    created_at: datetime
