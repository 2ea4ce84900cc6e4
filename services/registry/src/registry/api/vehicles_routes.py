"""HTTP for vehicles and port passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.pagination import AfterDate, PageQuery
from common.requests import IdempotencyKey, run_once
from common.schemas import Day
from registry.api.dependencies import (
    AnyReader,
    DriversReader,
    DriversWriter,
    RegistryDep,
    visible,
)
from registry.api.schemas import AddVehicleRequest, PassRequest, VehiclePage, VehicleView

router = APIRouter(prefix="/v1", tags=["vehicles and passes"])


@router.get(
    "/drivers/{driver_id}/vehicles",
    response_model=list[VehicleView],
    summary="A driver's vehicles and port passes",
)
async def list_vehicles(
    driver_id: str, principal: AnyReader, registry: RegistryDep
) -> list[VehicleView]:
    await visible(registry, principal, driver_id)
    held = await registry.lookup.vehicles_of([driver_id])
    return [VehicleView.of(v) for v in held.get(driver_id, [])]


@router.post(
    "/drivers/{driver_id}/vehicles",
    status_code=201,
    response_model=VehicleView,
    summary="Add a vehicle (a plate belongs to one active driver at a time)",
    responses={
        200: {"description": "The driver already holds this plate"},
        409: {"description": "The plate belongs to another active driver"},
    },
)
async def add_vehicle(
    driver_id: str,
    body: AddVehicleRequest,
    request: Request,
    principal: DriversWriter,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    await visible(registry, principal, driver_id)

    async def act() -> tuple[int, BaseModel]:
        vehicle, created = await registry.vehicles.add_vehicle(
            driver_id, body.plate, body.vehicle_type, body.pass_number, body.pass_expires_on
        )
        return (201 if created else 200), VehicleView.of(vehicle)

    return await run_once(request, principal, idempotency_key, body, act)


@router.put(
    "/drivers/{driver_id}/vehicles/{plate}/pass",
    response_model=VehicleView,
    summary="Record a vehicle's port entry pass (number and expiry)",
)
async def set_pass(
    driver_id: str, plate: str, body: PassRequest, principal: DriversWriter, registry: RegistryDep
) -> VehicleView:
    await visible(registry, principal, driver_id)
    vehicle = await registry.vehicles.update_pass(
        driver_id, plate, body.pass_number, body.pass_expires_on
    )
    return VehicleView.of(vehicle)


@router.delete(
    "/drivers/{driver_id}/vehicles/{plate}",
    status_code=204,
    summary="Remove a vehicle (frees its plate)",
)
async def remove_vehicle(
    driver_id: str, plate: str, principal: DriversWriter, registry: RegistryDep
) -> Response:
    await visible(registry, principal, driver_id)
    await registry.vehicles.remove_vehicle(driver_id, plate)
    return Response(status_code=204)


@router.get(
    "/passes/due",
    response_model=VehiclePage,
    summary="Port passes due for annual review: expiring on or before `by`, soonest first",
)
async def passes_due(
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    by: Annotated[Day | None, Query(description="Default: 30 days from today")] = None,
) -> VehiclePage:
    due_by = by or (datetime.now(UTC).date() + timedelta(days=30))
    position = page.after(AfterDate)
    after = (position.on.isoformat(), position.key) if position else None
    found = await registry.vehicles.passes_due(due_by, after=after, limit=page.limit)
    last = found[-1] if found else None
    expires = last.pass_expires_on if last else None
    cursor = page.next_if_full(
        len(found), AfterDate(on=expires, key=last.plate) if last and expires else None
    )
    return VehiclePage(items=[VehicleView.of(v) for v in found], next_cursor=cursor)
