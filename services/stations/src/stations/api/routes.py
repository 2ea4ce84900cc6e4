from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from common.auth import Principal, require_roles
from common.pagination import PageParams, encode_cursor
from common.problems import Problem
from common.requests import run_once
from stations.api.schemas import (
    ActivityCreate,
    ActivityList,
    ActivityView,
    AttendanceRequest,
    AttendanceView,
    Catalogue,
    CheckinPage,
    CheckinRequest,
    CheckinView,
    FeedbackRequest,
    FeedbackView,
    NearbyAnswer,
    NearbyStation,
    Occupancy,
    RatingSummary,
    Registrants,
    RegistrationRequest,
    ServiceTypeView,
    StageView,
    StationChange,
    StationCreate,
    StationPage,
    StationView,
)
from stations.domain import (
    CATALOGUE,
    SERVICES,
    STAGES,
    CheckinStatus,
    StationKind,
    StationStatus,
    derived_id,
)
from stations.service import NearbyQuery, StationsService, Use
from stations.settings import StationsSettings

router = APIRouter(prefix="/v1", tags=["stations"])

Everyone = Annotated[Principal, Depends(require_roles("operator", "station", "driver"))]
Staff = Annotated[Principal, Depends(require_roles("operator", "station"))]


def _service(request: Request) -> StationsService:
    service: StationsService = request.app.state.service
    return service


Service = Annotated[StationsService, Depends(_service)]


def _settings(request: Request) -> StationsSettings:
    settings: StationsSettings = request.app.state.settings
    return settings


def _must_manage(principal: Principal, station_id: str) -> None:
    """Operators manage every station; station staff only the one in their token."""
    if principal.role == "operator":
        return
    if principal.role == "station" and principal.station_id == station_id:
        return
    raise Problem(403, "Forbidden", "station staff manage only their own station")


# --- catalogue and stations ---------------------------------------------------------------------


@router.get("/services", response_model=Catalogue, summary="The service catalogue by life stage")
async def catalogue(_: Everyone) -> Catalogue:
    return Catalogue(
        stages=[
            StageView(
                stage=stage,
                services=[
                    ServiceTypeView(
                        code=s.code, name=s.name, name_zh=s.name_zh, resource=s.resource
                    )
                    for s in CATALOGUE
                    if s.stage == stage
                ],
            )
            for stage in STAGES
        ]
    )


@router.post("/stations", status_code=201, response_model=StationView, summary="Add a station")
async def add_station(
    body: StationCreate,
    _: Annotated[Principal, Depends(require_roles("operator"))],
    service: Service,
) -> StationView:
    station = await service.add_station(body.model_dump(mode="json"))
    return StationView.of(station, service.now())


@router.get("/stations", response_model=StationPage, summary="Stations, by id, paginated")
async def list_stations(
    _: Everyone,
    service: Service,
    page: Annotated[PageParams, Depends()],
    kind: StationKind | None = None,
    status: StationStatus | None = None,
) -> StationPage:
    filters: dict[str, Any] = {}
    if kind:
        filters["kind"] = kind
    if status:
        filters["status"] = status
    after = (page.after or {}).get("id")
    stations = await service.stations(filters=filters, after=after, limit=page.limit)
    now = service.now()
    cursor = encode_cursor({"id": stations[-1].station_id}) if len(stations) == page.limit else None
    return StationPage(items=[StationView.of(s, now) for s in stations], next_cursor=cursor)


@router.get(
    "/stations/nearby",
    response_model=NearbyAnswer,
    summary="The nearest stations, nearest first, with distance and travel time",
)
async def nearby(
    _: Everyone,
    service: Service,
    settings: Annotated[StationsSettings, Depends(_settings)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float | None, Query(gt=0)] = None,
    facility: Annotated[list[str] | None, Query(description="Service codes all required")] = None,
    open_now: bool = False,
    free_beds: bool = False,
    free_parking: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> NearbyAnswer:
    radius = radius_km or settings.nearby_default_radius_km
    if radius > settings.nearby_max_radius_km:
        raise Problem(
            422,
            "Unprocessable Content",
            f"radius_km may be at most {settings.nearby_max_radius_km:g}",
        )
    unknown = sorted(set(facility or ()) - set(SERVICES))
    if unknown:
        raise Problem(422, "Unprocessable Content", f"unknown facility codes: {unknown}")
    found = await service.nearby(
        NearbyQuery(
            lat=lat,
            lng=lng,
            radius_km=radius,
            facilities=frozenset(facility or ()),
            open_now=open_now,
            free_beds=free_beds,
            free_parking=free_parking,
            limit=limit,
        )
    )
    items = [
        NearbyStation(
            **n.station.model_dump(
                include={
                    "station_id",
                    "name",
                    "kind",
                    "address",
                    "location",
                    "status",
                    "grade",
                    "free",
                    "capacity",
                    "contact",
                }
            ),
            distance_km=round(n.distance_km, 3),
            travel_minutes=n.travel_minutes,
            open_now=n.open_now,
            services=[s.code for s in n.station.services],
        )
        for n in found
    ]
    return NearbyAnswer(at=service.now(), radius_km=radius, count=len(items), items=items)


@router.get("/stations/{station_id}", response_model=StationView, summary="A station")
async def get_station(station_id: str, _: Everyone, service: Service) -> StationView:
    return StationView.of(await service.get_station(station_id), service.now())


@router.patch("/stations/{station_id}", response_model=StationView, summary="Change a station")
async def change_station(
    station_id: str, body: StationChange, principal: Staff, service: Service
) -> StationView:
    _must_manage(principal, station_id)
    try:
        changes = body.changes()
        if principal.role != "operator" and "grade" in changes:
            raise Problem(403, "Forbidden", "only operators record a station's grade")
        station = await service.change_station(station_id, changes)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, Problem):
            raise
        raise Problem(422, "Unprocessable Content", "the change is not valid") from exc
    return StationView.of(station, service.now())


@router.get(
    "/stations/{station_id}/occupancy",
    response_model=Occupancy,
    summary="Free and taken beds and parking spaces",
)
async def occupancy(station_id: str, _: Everyone, service: Service) -> Occupancy:
    station = await service.get_station(station_id)
    taken = {r: getattr(station.capacity, r) - station.free_of(r) for r in ("beds", "parking")}
    return Occupancy(
        station_id=station_id,
        capacity=station.capacity,
        free={r: station.free_of(r) for r in ("beds", "parking")},
        taken=taken,
    )


# --- check-ins ----------------------------------------------------------------------------------


@router.post(
    "/checkins",
    status_code=201,
    response_model=CheckinView,
    summary="Record that a driver used a service (station staff, operators)",
    responses={200: {"description": "The check-in already existed (the same id reached it again)"}},
)
async def record_checkin(
    body: CheckinRequest,
    request: Request,
    principal: Staff,
    service: Service,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    _must_manage(principal, body.station_id)
    checkin_id = (
        derived_id("ci", "http", principal.sub, idempotency_key)
        if idempotency_key
        else f"ci_{uuid.uuid4().hex}"
    )

    async def action() -> tuple[int, BaseModel]:
        checkin, created = await service.record_use(
            Use(
                checkin_id=checkin_id,
                driver_id=body.driver_id,
                station_id=body.station_id,
                service_code=body.service_code,
                used_at=service.now(),
                channel="operator" if principal.role == "operator" else "staff",
                may_exist=idempotency_key is not None,
            )
        )
        return (201 if created else 200), CheckinView.of(checkin)

    return await run_once(request, principal, idempotency_key, body, action)


def _visible_checkins(
    principal: Principal, station_id: str | None, driver_id: str | None
) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if principal.role == "driver":
        if driver_id not in (None, principal.driver_id) or principal.driver_id is None:
            raise Problem(403, "Forbidden", "drivers see only their own visits")
        filters["driver_id"] = principal.driver_id
        if station_id:
            filters["station_id"] = station_id
        return filters
    if principal.role == "station":
        if station_id not in (None, principal.station_id) or principal.station_id is None:
            raise Problem(403, "Forbidden", "station staff see only their own station")
        filters["station_id"] = principal.station_id
    elif station_id:
        filters["station_id"] = station_id
    if driver_id:
        filters["driver_id"] = driver_id
    return filters


@router.get("/checkins", response_model=CheckinPage, summary="Check-ins, newest first")
async def list_checkins(
    principal: Everyone,
    service: Service,
    page: Annotated[PageParams, Depends()],
    station_id: str | None = None,
    driver_id: str | None = None,
    status: CheckinStatus | None = None,
) -> CheckinPage:
    filters = _visible_checkins(principal, station_id, driver_id)
    if status:
        filters["status"] = status
    items = await service.checkins(filters=filters, after=page.after, limit=page.limit)
    cursor = None
    if len(items) == page.limit:
        last = items[-1]
        cursor = encode_cursor({"at": last.recorded_at.isoformat(), "id": last.checkin_id})
    return CheckinPage(items=[CheckinView.of(c) for c in items], next_cursor=cursor)


async def _visible_checkin(principal: Principal, service: StationsService, checkin_id: str) -> Any:
    checkin = await service.get_checkin(checkin_id)
    allowed = (
        principal.role == "operator"
        or (principal.role == "station" and principal.station_id == checkin.station_id)
        or (principal.role == "driver" and principal.driver_id == checkin.driver_id)
    )
    if not allowed:
        raise Problem(404, "Not Found", "no such check-in")
    return checkin


@router.get("/checkins/{checkin_id}", response_model=CheckinView, summary="A check-in")
async def get_checkin(checkin_id: str, principal: Everyone, service: Service) -> CheckinView:
    return CheckinView.of(await _visible_checkin(principal, service, checkin_id))


@router.post(
    "/checkins/{checkin_id}/checkout",
    response_model=CheckinView,
    summary="Free the bed or parking space a check-in holds",
)
async def check_out(checkin_id: str, principal: Staff, service: Service) -> CheckinView:
    checkin = await _visible_checkin(principal, service, checkin_id)
    _must_manage(principal, checkin.station_id)
    return CheckinView.of(await service.check_out(checkin_id))


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
    feedback = await service.rate_visit(checkin_id, principal.driver_id, body.rating, body.comment)
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
    count, average, latest = await service.ratings(station_id, recent)
    return RatingSummary(
        station_id=station_id,
        count=count,
        average=average,
        recent=[FeedbackView.of(f) for f in latest],
    )


# --- activities ---------------------------------------------------------------------------------


@router.post(
    "/stations/{station_id}/activities",
    status_code=201,
    response_model=ActivityView,
    summary="Schedule a market, training, health check or festival event",
)
async def add_activity(
    station_id: str, body: ActivityCreate, principal: Staff, service: Service
) -> ActivityView:
    _must_manage(principal, station_id)
    activity = await service.add_activity(station_id, **body.model_dump())
    return ActivityView.of(activity)


@router.get(
    "/stations/{station_id}/activities",
    response_model=ActivityList,
    summary="A station's current and coming activities",
)
async def list_activities(
    station_id: str,
    _: Everyone,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ActivityList:
    await service.get_station(station_id)
    return ActivityList(
        items=[ActivityView.of(a) for a in await service.activities(station_id, limit)]
    )


@router.get("/activities/{activity_id}", response_model=ActivityView, summary="An activity")
async def get_activity(activity_id: str, _: Everyone, service: Service) -> ActivityView:
    return ActivityView.of(await service.get_activity(activity_id))


async def _registrant(
    principal: Principal, service: StationsService, activity_id: str, driver_id: str | None
) -> str:
    if principal.role == "driver":
        if principal.driver_id is None or driver_id not in (None, principal.driver_id):
            raise Problem(403, "Forbidden", "drivers register only themselves")
        return principal.driver_id
    _must_manage(principal, (await service.get_activity(activity_id)).station_id)
    if driver_id is None:
        raise Problem(422, "Unprocessable Content", "driver_id is required for staff")
    return driver_id


@router.post(
    "/activities/{activity_id}/registrations",
    response_model=ActivityView,
    summary="Register for an activity (never overbooked)",
)
async def register(
    activity_id: str,
    principal: Everyone,
    service: Service,
    body: Annotated[RegistrationRequest | None, Body()] = None,
) -> ActivityView:
    driver_id = await _registrant(principal, service, activity_id, body.driver_id if body else None)
    return ActivityView.of(await service.register(activity_id, driver_id))


@router.delete(
    "/activities/{activity_id}/registrations/{driver_id}",
    response_model=ActivityView,
    summary="Give a seat back",
)
async def unregister(
    activity_id: str, driver_id: str, principal: Everyone, service: Service
) -> ActivityView:
    driver_id = await _registrant(principal, service, activity_id, driver_id)
    return ActivityView.of(await service.unregister(activity_id, driver_id))


@router.get(
    "/activities/{activity_id}/registrations",
    response_model=Registrants,
    summary="Who registered",
)
async def registrants(activity_id: str, principal: Staff, service: Service) -> Registrants:
    _must_manage(principal, (await service.get_activity(activity_id)).station_id)
    return Registrants(activity_id=activity_id, driver_ids=await service.registrants(activity_id))


@router.post(
    "/activities/{activity_id}/attendance",
    status_code=201,
    response_model=AttendanceView,
    summary="Record that a driver attended (announced as activity.attended.v1 once)",
    responses={200: {"description": "Already recorded"}},
)
async def attend(
    activity_id: str,
    body: AttendanceRequest,
    response: Response,
    principal: Staff,
    service: Service,
) -> AttendanceView:
    _must_manage(principal, (await service.get_activity(activity_id)).station_id)
    record, created = await service.attend(activity_id, body.driver_id)
    if not created:
        response.status_code = 200
    return AttendanceView(
        attendance_id=record["_id"], **{k: v for k, v in record.items() if k != "_id"}
    )
