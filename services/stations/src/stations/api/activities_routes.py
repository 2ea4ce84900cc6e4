"""Activities: scheduling, registration, registrants and attendance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from common.auth import Principal
from common.problems import Problem
from stations.api.dependencies import (
    ActivityStaff,
    Everyone,
    Registrar,
    Service,
    must_manage,
)
from stations.api.schemas import (
    ActivityCreate,
    ActivityList,
    ActivityView,
    AttendanceRequest,
    AttendanceView,
    Attendees,
    Registrants,
    RegistrationRequest,
)
from stations.service import Stations

router = APIRouter(prefix="/v1", tags=["stations"])


@router.post(
    "/stations/{station_id}/activities",
    status_code=201,
    response_model=ActivityView,
    summary="Schedule a market, training, health check or festival event",
)
async def add_activity(
    station_id: str, body: ActivityCreate, principal: ActivityStaff, service: Service
) -> ActivityView:
    must_manage(principal, station_id)
    activity = await service.activities.add_activity(station_id, **body.model_dump())
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
    await service.directory.get_station(station_id)
    return ActivityList(
        items=[ActivityView.of(a) for a in await service.activities.activities(station_id, limit)]
    )


@router.get("/activities/{activity_id}", response_model=ActivityView, summary="An activity")
async def get_activity(activity_id: str, _: Everyone, service: Service) -> ActivityView:
    return ActivityView.of(await service.activities.get_activity(activity_id))


async def _registrant(
    principal: Principal, service: Stations, activity_id: str, driver_id: str | None
) -> str:
    if principal.role == "driver":
        if principal.driver_id is None or driver_id not in (None, principal.driver_id):
            raise Problem(403, "Forbidden", "drivers register only themselves")
        return principal.driver_id
    must_manage(principal, (await service.activities.get_activity(activity_id)).station_id)
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
    principal: Registrar,
    service: Service,
    body: Annotated[RegistrationRequest | None, Body()] = None,
) -> ActivityView:
    driver_id = await _registrant(principal, service, activity_id, body.driver_id if body else None)
    return ActivityView.of(await service.activities.register(activity_id, driver_id))


@router.delete(
    "/activities/{activity_id}/registrations/{driver_id}",
    response_model=ActivityView,
    summary="Give a seat back",
)
async def unregister(
    activity_id: str, driver_id: str, principal: Registrar, service: Service
) -> ActivityView:
    driver_id = await _registrant(principal, service, activity_id, driver_id)
    return ActivityView.of(await service.activities.unregister(activity_id, driver_id))


@router.get(
    "/activities/{activity_id}/registrations",
    response_model=Registrants,
    summary="Who registered",
)
async def registrants(activity_id: str, principal: ActivityStaff, service: Service) -> Registrants:
    must_manage(principal, (await service.activities.get_activity(activity_id)).station_id)
    return Registrants(
        activity_id=activity_id, driver_ids=await service.activities.registrants(activity_id)
    )


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
    principal: ActivityStaff,
    service: Service,
) -> AttendanceView:
    must_manage(principal, (await service.activities.get_activity(activity_id)).station_id)
    record, created = await service.activities.attend(activity_id, body.driver_id)
    if not created:
        response.status_code = 200
    return AttendanceView.of(record)


@router.get(
    "/activities/{activity_id}/attendance",
    response_model=Attendees,
    summary="Who attended (staff of the activity's station, or activities:manage)",
)
async def attendance(
    activity_id: str,
    principal: ActivityStaff,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> Attendees:
    must_manage(principal, (await service.activities.get_activity(activity_id)).station_id)
    found = await service.activities.attendees(activity_id, limit)
    return Attendees(activity_id=activity_id, items=[AttendanceView.of(r) for r in found])
