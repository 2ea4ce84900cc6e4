"""Stations, hours, the service catalogue, geography and anti-abuse rules: pure, no I/O."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
import pygeohash
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StationKind = Literal["drivers_home", "rest_stop", "service_centre", "community_station"]
StationStatus = Literal["open", "temporarily_closed", "retired"]
GradeLevel = Literal["1A", "2A", "3A", "4A", "5A"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Resource = Literal["beds", "parking"]
CheckinStatus = Literal["counted", "duplicate", "flagged", "refused"]
CheckinChannel = Literal["staff", "operator", "kiosk"]
ActivityKind = Literal["market", "training", "health_check", "festival", "legal_clinic", "other"]
Stage = Literal[
    "joining", "work", "family", "schooling", "health", "legal_aid", "skills", "retirement"
]

EARTH_RADIUS_KM = 6371.0088
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


# --- errors -----------------------------------------------------------------------------------


class StationsError(Exception):
    """Base of the stations service's domain errors; ``code`` is machine-readable."""

    code = "stations_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class CapacityInUse(StationsError):
    code = "capacity_in_use"


class FeedbackExists(StationsError):
    code = "feedback_exists"


class NotYourVisit(StationsError):
    code = "not_your_visit"


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


# --- opening hours ----------------------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Interval(BaseModel):
    """Open from ``opens`` to ``closes`` local time; ``closes`` at or before ``opens`` runs
    past midnight into the next day (``22:00``-``06:00``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: str = Field(examples=["08:00"])
    closes: str = Field(examples=["22:00"])

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("times are HH:MM (00:00-23:59, or 24:00 for closing)")
        return value

    @model_validator(mode="after")
    def _not_opening_at_midnight_end(self) -> Interval:
        if self.opens == "24:00":
            raise ValueError("a day cannot open at 24:00")
        return self

    @property
    def overnight(self) -> bool:
        return _minutes(self.closes) <= _minutes(self.opens)


class Hours(BaseModel):
    """Weekly opening hours in the station's time zone, with statutory-holiday hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Asia/Shanghai"
    always_open: bool = False
    week: dict[Weekday, list[Interval]] = Field(
        default_factory=dict, description="A weekday missing here is a closed day"
    )
    holidays: list[Interval] | None = Field(
        default=None,
        description="Hours on Chinese statutory public holidays; null keeps the weekday's hours, "
        "an empty list closes the station on holidays",
    )
    makeup_workdays_as: Weekday | None = Field(
        default=None,
        description="On an adjusted working day (a weekend day worked to bridge a holiday), "
        "use this weekday's hours; null keeps the calendar weekday's",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def intervals_on(self, day: date) -> list[Interval]:
        if self.holidays is not None and is_public_holiday(day):
            return list(self.holidays)
        if self.makeup_workdays_as is not None and is_makeup_workday(day):
            return list(self.week.get(self.makeup_workdays_as, []))
        return list(self.week.get(WEEKDAYS[day.weekday()], []))

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        local = moment.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        today = local.date()
        for interval in self.intervals_on(today):
            opens, closes = _minutes(interval.opens), _minutes(interval.closes)
            if interval.overnight:
                if minute >= opens:
                    return True
            elif opens <= minute < closes:
                return True
        # Yesterday's overnight intervals reach into the small hours of today.
        for interval in self.intervals_on(today - timedelta(days=1)):
            if interval.overnight and minute < _minutes(interval.closes):
                return True
        return False


ALWAYS_OPEN = Hours(always_open=True)


def is_public_holiday(day: date) -> bool:
    """A Chinese statutory holiday (not an ordinary weekend), per ``chinesecalendar``."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the library does not cover yet
        return False
    return bool(on_holiday and name is not None)


def is_makeup_workday(day: date) -> bool:
    """A weekend day declared a working day to bridge a holiday (调休)."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(not on_holiday and name is not None and day.weekday() >= 5)


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
    capacity: Capacity = Field(default_factory=Capacity)
    free: dict[Resource, int] = Field(default_factory=dict)
    services: list[OfferedService] = Field(default_factory=list)
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


# --- geography --------------------------------------------------------------------------------


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine) on the mean Earth radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


CELL_PRECISIONS = (1, 2, 3, 4, 5, 6)
MAX_QUERY_CELLS = 64


def cells_of(lat: float, lng: float) -> dict[str, str]:
    """The geohash prefixes a station is indexed under, one field per precision."""
    full = pygeohash.encode(lat, lng, max(CELL_PRECISIONS))
    return {f"p{p}": full[:p] for p in CELL_PRECISIONS}


def _cell_size(precision: int) -> tuple[float, float]:
    """(height, width) of a geohash cell in degrees: longitude takes the odd bit."""
    bits = 5 * precision
    lng_bits, lat_bits = (bits + 1) // 2, bits // 2
    return 180.0 / 2**lat_bits, 360.0 / 2**lng_bits


def bounding_box(
    lat: float, lng: float, radius_km: float
) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """Latitude range and longitude ranges (split at the antimeridian) of a spherical cap.

    The cap touching a pole spans every longitude; otherwise the longitude half-width is the
    tangent meridians' ``asin(sin d / cos lat)``.
    """
    d = radius_km / EARTH_RADIUS_KM
    lat_min, lat_max = lat - math.degrees(d), lat + math.degrees(d)
    if lat_max >= 90 or lat_min <= -90 or d >= math.pi / 2:
        return (max(lat_min, -90.0), min(lat_max, 90.0)), [(-180.0, 180.0)]
    ratio = math.sin(d) / math.cos(math.radians(lat))
    if ratio >= 1:
        return (lat_min, lat_max), [(-180.0, 180.0)]
    half = math.degrees(math.asin(ratio))
    lo, hi = lng - half, lng + half
    if lo < -180:
        return (lat_min, lat_max), [(lo + 360, 180.0), (-180.0, hi)]
    if hi > 180:
        return (lat_min, lat_max), [(lo, 180.0), (-180.0, hi - 360)]
    return (lat_min, lat_max), [(lo, hi)]


def _cells_covering(
    lat_range: tuple[float, float], lng_ranges: Iterable[tuple[float, float]], precision: int
) -> set[str] | None:
    height, width = _cell_size(precision)
    rows, cols = round(180 / height), round(360 / width)
    first_row = max(0, math.floor((lat_range[0] + 90) / height))
    last_row = min(rows - 1, math.floor((lat_range[1] + 90) / height))
    columns: set[int] = set()
    for lo, hi in lng_ranges:
        first_col = max(0, math.floor((lo + 180) / width))
        last_col = min(cols - 1, math.floor((hi + 180) / width))
        if (last_col - first_col + 1) * (last_row - first_row + 1) > MAX_QUERY_CELLS:
            return None
        columns.update(range(first_col, last_col + 1))
    if len(columns) * (last_row - first_row + 1) > MAX_QUERY_CELLS:
        return None
    return {
        pygeohash.encode(
            -90 + (row + 0.5) * height, -180 + (col + 0.5) * width, precision=precision
        )
        for row in range(first_row, last_row + 1)
        for col in columns
    }


@dataclass(frozen=True)
class CellQuery:
    """Which indexed cells hold every point within a radius; ``cells`` None means scan all."""

    field: str
    cells: frozenset[str] | None


def cell_query(lat: float, lng: float, radius_km: float) -> CellQuery:
    """The finest precision whose covering of the cap's bounding box has few enough cells."""
    lat_range, lng_ranges = bounding_box(lat, lng, radius_km)
    for precision in sorted(CELL_PRECISIONS, reverse=True):
        cells = _cells_covering(lat_range, lng_ranges, precision)
        if cells is not None:
            if precision == 1 and len(cells) == 32:
                break
            return CellQuery(f"cells.p{precision}", frozenset(cells))
    return CellQuery("cells.p1", None)


def travel_minutes(distance: float, speed_kmh: float, road_factor: float) -> int:
    """Estimated driving time: straight-line distance stretched to road distance."""
    return max(1, math.ceil(distance * road_factor / speed_kmh * 60))


# --- anti-abuse -------------------------------------------------------------------------------


class LastSeen(BaseModel):
    model_config = ConfigDict(frozen=True)

    station_id: str
    lat: float
    lng: float
    at: datetime


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
