from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from common.schemas import AwareInstant, Code, Day, Name, Omittable, RequestModel, Text
from stations.domain import (
    Activity,
    ActivityKind,
    Capacity,
    Checkin,
    CheckinChannel,
    CheckinStatus,
    Contact,
    Feedback,
    Grade,
    Location,
    NetworkPlace,
    OfferedService,
    Resource,
    RoadClass,
    Stage,
    Station,
    StationKind,
    StationStatus,
)
from stations.hours import Hours, Interval, Weekday

# A partner's id, as the partners gateway gives them.
PARTNER_ID = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


# The domain's value objects, as strict request parts (the same fields and rules).
class IntervalRequest(Interval, RequestModel):
    pass


class HoursRequest(Hours, RequestModel):
    week: dict[Weekday, list[IntervalRequest]] = Field(  # type: ignore[assignment]
        default_factory=dict, description="A weekday missing here is a closed day"
    )
    holidays: list[IntervalRequest] | None = Field(  # type: ignore[assignment]
        default=None,
        description="Hours on Chinese statutory public holidays; null keeps the weekday's hours, "
        "an empty list closes the station on holidays",
    )


class LocationRequest(Location, RequestModel):
    pass


class GradeRequest(Grade, RequestModel):
    graded_on: Day
    graded_by: Name = Field(min_length=1, max_length=100, examples=["中国公路学会"])


class ContactRequest(Contact, RequestModel):
    phone: Name | None = Field(default=None, max_length=30, description="The station's desk")
    person: Name | None = Field(default=None, max_length=50)


class CapacityRequest(Capacity, RequestModel):
    pass


class OfferedServiceRequest(OfferedService, RequestModel):
    code: Code
    hours: HoursRequest | None = Field(
        default=None, description="Only when they differ from the station"
    )


class NetworkPlaceRequest(NetworkPlace, RequestModel):
    parent_id: Code | None = Field(
        default=None, max_length=64, description="The hub's station_id; null for a hub"
    )


KioskPartners = Annotated[
    list[Annotated[str, StringConstraints(pattern=PARTNER_ID, max_length=64)]],
    Field(
        max_length=20,
        description="Partners whose kiosks report uses at this station (operators set it); "
        "a partner's kiosk report for a station not naming it is refused",
    ),
]


class StationCreate(RequestModel):
    station_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Chosen by the operator; generated if absent"
    )
    name: Name = Field(min_length=1, max_length=100)
    kind: StationKind
    operator_org: Name = Field(min_length=1, max_length=100)
    address: Name = Field(min_length=1, max_length=200)
    location: LocationRequest
    hours: HoursRequest
    grade: GradeRequest | None = None
    contact: ContactRequest = Field(default_factory=ContactRequest)
    status: StationStatus = "open"
    road_class: RoadClass = Field(default="urban", description="The road it is reached by")
    capacity: CapacityRequest = Field(default_factory=CapacityRequest)
    services: list[OfferedServiceRequest] = Field(default_factory=list, max_length=100)
    network: NetworkPlaceRequest | None = Field(
        default=None, description="Its place in a 1+X+Y network: a hub, or a home/post of a hub"
    )
    kiosk_partners: KioskPartners = Field(default_factory=list)

    @model_validator(mode="after")
    def _services_once(self) -> StationCreate:
        codes = [s.code for s in self.services]
        if len(codes) != len(set(codes)):
            raise ValueError("each service is listed once")
        return self


class StationChange(RequestModel):
    """Only the fields sent change; ``grade: null`` removes a grade."""

    name: Omittable[Name] = Field(default=None, min_length=1, max_length=100)
    kind: Omittable[StationKind] = None
    operator_org: Omittable[Name] = Field(default=None, min_length=1, max_length=100)
    address: Omittable[Name] = Field(default=None, min_length=1, max_length=200)
    location: Omittable[LocationRequest] = None
    hours: Omittable[HoursRequest] = None
    grade: GradeRequest | None = None
    contact: Omittable[ContactRequest] = None
    status: Omittable[StationStatus] = None
    road_class: Omittable[RoadClass] = None
    capacity: Omittable[CapacityRequest] = None
    services: Omittable[list[OfferedServiceRequest]] = Field(default=None, max_length=100)
    kiosk_partners: Omittable[KioskPartners] = None

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(mode="json", exclude_unset=True)
        for name, value in sent.items():
            if value is None and name != "grade":
                raise ValueError(f"{name} cannot be null")
        return sent


class StationView(BaseModel):
    station_id: str
    name: str
    kind: StationKind
    operator_org: str
    address: str
    location: Location
    hours: Hours
    grade: Grade | None
    contact: Contact
    status: StationStatus
    road_class: RoadClass
    capacity: Capacity
    free: dict[Resource, int]
    services: list[OfferedService]
    network: NetworkPlace | None = Field(
        default=None, description="Its place in a 1+X+Y network (PUT /v1/stations/{id}/network)"
    )
    kiosk_partners: list[str] = Field(default_factory=list)
    open_now: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, station: Station, now: datetime) -> StationView:
        return cls(**station.model_dump(), open_now=station.is_open(now))


class StationPage(BaseModel):
    items: list[StationView]
    next_cursor: str | None = None


class NearbyStation(BaseModel):
    station_id: str
    name: str
    kind: StationKind
    address: str
    location: Location
    status: StationStatus
    grade: Grade | None
    distance_km: float = Field(description="Great-circle distance from the query point")
    travel_minutes: int = Field(
        description="Estimated driving time: distance × road factor at the speed of the "
        "station's road class (docs/stations.md)"
    )
    road_class: RoadClass
    open_now: bool
    free: dict[Resource, int]
    capacity: Capacity
    services: list[str]
    contact: Contact


class NearbyAnswer(BaseModel):
    at: datetime
    radius_km: float
    minutes: int | None = Field(default=None, description="The circle asked for, in minutes")
    count: int
    items: list[NearbyStation]


class ServiceTypeView(BaseModel):
    code: str
    name: str
    name_zh: str
    resource: Resource | None


class StageView(BaseModel):
    stage: Stage
    services: list[ServiceTypeView]


class Catalogue(BaseModel):
    stages: list[StageView]


class Occupancy(BaseModel):
    station_id: str
    capacity: Capacity
    free: dict[Resource, int]
    taken: dict[Resource, int]


class CheckinRequest(RequestModel):
    driver_id: str = Field(pattern=ID_PATTERN)
    station_id: str = Field(pattern=ID_PATTERN)
    service_code: Code = Field(min_length=1, max_length=64)


class CheckinView(BaseModel):
    checkin_id: str
    driver_id: str
    station_id: str
    service_code: str
    used_at: datetime
    recorded_at: datetime
    channel: CheckinChannel
    status: CheckinStatus = Field(
        description="counted (announced as service.used.v1), duplicate (within the window), "
        "flagged (impossible travel) or refused (a kiosk report the rules refused)"
    )
    reason: str | None
    resource: Resource | None
    checked_out_at: datetime | None
    kiosk_id: str | None

    @classmethod
    def of(cls, checkin: Checkin) -> CheckinView:
        return cls(**checkin.model_dump())


class CheckinPage(BaseModel):
    items: list[CheckinView]
    next_cursor: str | None = None


class FeedbackRequest(RequestModel):
    rating: int = Field(ge=1, le=5)
    comment: Text | None = Field(default=None, max_length=1000)


class FeedbackView(BaseModel):
    checkin_id: str
    station_id: str
    rating: int
    comment: str | None
    created_at: datetime

    @classmethod
    def of(cls, feedback: Feedback) -> FeedbackView:
        return cls(**feedback.model_dump())


class RatedComment(BaseModel):
    """One rating as others see it: no check-in id, which station staff could turn into the
    driver who wrote it."""

    rating: int
    comment: str | None
    created_at: datetime

    @classmethod
    def of(cls, feedback: Feedback) -> RatedComment:
        return cls(rating=feedback.rating, comment=feedback.comment, created_at=feedback.created_at)


class RatingSummary(BaseModel):
    station_id: str
    count: int
    average: float | None
    recent: list[RatedComment]


class ActivityCreate(RequestModel):
    kind: ActivityKind
    title: Name = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    starts_at: AwareInstant
    ends_at: AwareInstant
    capacity: int = Field(ge=1, le=2000)
    registration_required: bool = True

    @model_validator(mode="after")
    def _ends_after_start(self) -> ActivityCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ActivityView(BaseModel):
    activity_id: str
    station_id: str
    kind: ActivityKind
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    seats_left: int
    registration_required: bool
    created_at: datetime

    @classmethod
    def of(cls, activity: Activity) -> ActivityView:
        return cls(**activity.model_dump())


class ActivityList(BaseModel):
    items: list[ActivityView]


class RegistrationRequest(RequestModel):
    driver_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Staff registering a driver; drivers omit it"
    )


class Registrants(BaseModel):
    activity_id: str
    driver_ids: list[str]


class AttendanceRequest(RequestModel):
    driver_id: str = Field(pattern=ID_PATTERN)


class AttendanceView(BaseModel):
    attendance_id: str
    activity_id: str
    station_id: str
    driver_id: str
    attended_at: datetime

    @classmethod
    def of(cls, record: dict[str, Any]) -> AttendanceView:
        return cls(attendance_id=record["_id"], **{k: v for k, v in record.items() if k != "_id"})


class Attendees(BaseModel):
    activity_id: str
    items: list[AttendanceView] = Field(description="Who attended, first arrivals first")
