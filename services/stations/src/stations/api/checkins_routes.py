"""Check-ins: staff record a use (retry-safe), everyone lists what they may see, checkout."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.auth import Principal
from common.pagination import AfterTime, PageQuery
from common.problems import Problem
from common.requests import run_once
from stations.api.dependencies import Service, StationStaff, Visits, must_manage
from stations.api.schemas import (
    CheckinPage,
    CheckinRequest,
    CheckinView,
)
from stations.checkins import Use
from stations.domain import (
    CheckinNotFound,
    CheckinStatus,
    derived_id,
)
from stations.service import Stations

router = APIRouter(prefix="/v1", tags=["stations"])


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
    principal: StationStaff,
    service: Service,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    must_manage(principal, body.station_id)
    checkin_id = (
        derived_id("ci", "http", principal.actor, idempotency_key)
        if idempotency_key
        else f"ci_{uuid.uuid4().hex}"
    )

    async def action() -> tuple[int, BaseModel]:
        checkin, created = await service.checkins.record_use(
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
    principal: Visits,
    service: Service,
    page: PageQuery,
    station_id: str | None = None,
    driver_id: str | None = None,
    status: CheckinStatus | None = None,
) -> CheckinPage:
    filters = _visible_checkins(principal, station_id, driver_id)
    if status:
        filters["status"] = status
    position = page.after(AfterTime)
    after = {"at": position.at.isoformat(), "id": position.id} if position else None
    items = await service.checkins.checkins(filters=filters, after=after, limit=page.limit)
    last = items[-1] if items else None
    cursor = page.next_if_full(
        len(items), AfterTime(at=last.recorded_at, id=last.checkin_id) if last else None
    )
    return CheckinPage(items=[CheckinView.of(c) for c in items], next_cursor=cursor)


async def _visible_checkin(principal: Principal, service: Stations, checkin_id: str) -> Any:
    checkin = await service.checkins.get_checkin(checkin_id)
    allowed = (
        principal.role == "operator"
        or (principal.role == "station" and principal.station_id == checkin.station_id)
        or (principal.role == "driver" and principal.driver_id == checkin.driver_id)
    )
    if not allowed:  # answered exactly as a check-in that does not exist
        raise CheckinNotFound(f"no check-in {checkin_id}")
    return checkin


@router.get("/checkins/{checkin_id}", response_model=CheckinView, summary="A check-in")
async def get_checkin(checkin_id: str, principal: Visits, service: Service) -> CheckinView:
    return CheckinView.of(await _visible_checkin(principal, service, checkin_id))


@router.post(
    "/checkins/{checkin_id}/checkout",
    response_model=CheckinView,
    summary="Free the bed or parking space a check-in holds",
)
async def check_out(checkin_id: str, principal: StationStaff, service: Service) -> CheckinView:
    checkin = await _visible_checkin(principal, service, checkin_id)
    must_manage(principal, checkin.station_id)
    return CheckinView.of(await service.checkins.check_out(checkin_id))
