"""HTTP for drivers: registration, lookup and search, changes, deactivation, erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.approvals_api import ACCEPTED, propose
from common.auth import Principal
from common.authz import require_scope
from common.pagination import AfterId, CursorsQuery, PageQuery
from common.problems import Problem
from common.requests import IdempotencyKey, run_once
from registry.api.dependencies import (
    AnyReader,
    DriversReader,
    DriversWriter,
    Eraser,
    RegistryDep,
    actor,
    driver_page,
    driver_view,
    drivers_matching,
    visible,
)
from registry.api.schemas import (
    DeactivateRequest,
    DriverPage,
    DriverView,
    EraseRequest,
    LinkRequested,
    RegisterDriverRequest,
    SearchRequest,
    UpdateDriverRequest,
)
from registry.domain import (
    DriverStatus,
    RegistrationChannel,
)
from registry.four_eyes import ERASURE, erasure_proposal
from registry.lookup import Search
from registry.registration import Registration

router = APIRouter(prefix="/v1", tags=["drivers"])

_CHANNEL_OF_ROLE: dict[str, RegistrationChannel] = {
    "operator": "operator",
    "station": "station",
    "partner": "partner",
    "driver": "self",
}
# What a driver may change on their own record.
_SELF_SERVICE_FIELDS = {"phone", "home_province", "languages", "photo_ref", "base_location"}


@router.post(
    "/drivers",
    status_code=201,
    response_model=DriverView,
    summary="Register a driver (idempotent on the national ID)",
    responses={
        200: {"description": "Already registered: the existing driver (nothing overwritten)"},
        202: {
            "description": "Partners: the person is registered, not through this partner; a "
            "link request now waits for the driver's confirmation (no driver data)",
            "model": LinkRequested,
        },
        409: {"description": "The plate belongs to another active driver"},
    },
)
async def register_driver(
    body: RegisterDriverRequest,
    request: Request,
    principal: Annotated[
        Principal,
        Depends(require_scope("drivers:write", or_roles=("station", "partner", "driver"))),
    ],
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if body.partner_driver_ref is not None and principal.role != "partner":
        raise Problem(403, "Forbidden", "only partners give a partner_driver_ref")

    async def act() -> tuple[int, BaseModel]:
        registered = await registry.registrar.register_driver(
            Registration(
                **{
                    **body.model_dump(),
                    "languages": tuple(body.languages),
                    "base_location": body.base_location,
                }
            ),
            _CHANNEL_OF_ROLE[principal.role],
            actor(principal),
        )
        driver, created = registered.driver, registered.created
        if not created and principal.role == "driver" and principal.driver_id != driver.driver_id:
            # Someone else's record stays out of sight, even to a caller who knows the number.
            raise Problem(409, "Conflict", "this person is already registered; ask a station")
        if principal.role == "partner" and not driver.is_linked_to(principal.partner_id):
            # Known already, not through this partner: a link request the driver answers.
            return 202, LinkRequested()
        view = await driver_view(registry, principal, driver, held=registered.vehicles)
        return (201 if created else 200), view

    return await run_once(request, principal, idempotency_key, body, act)


@router.get(
    "/drivers",
    response_model=DriverPage,
    summary="List and search drivers by non-sensitive criteria (operators)",
)
async def list_drivers(
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    plate: Annotated[str | None, Query(min_length=7, max_length=12)] = None,
    name_prefix: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    fleet_id: Annotated[str | None, Query(max_length=100)] = None,
    grid_id: Annotated[str | None, Query(max_length=100)] = None,
    organisation_id: Annotated[str | None, Query(max_length=100)] = None,
    status: DriverStatus | None = None,
) -> DriverPage:
    criteria = Search(
        plate=plate,
        name_prefix=name_prefix,
        fleet_id=fleet_id,
        grid_id=grid_id,
        organisation_id=organisation_id,
        status=status,
    )
    return await drivers_matching(registry, criteria, principal, page)


@router.post(
    "/drivers/search",
    response_model=DriverPage,
    summary="Search drivers, also by phone or national ID (kept out of URLs and logs)",
    description=(
        "Operators: any criteria. Station staff: must give a plate, phone or national ID "
        "(looking up a driver who checks in). Phone and ID are matched by their keyed hash."
    ),
)
async def search_drivers(
    body: SearchRequest,
    principal: Annotated[Principal, Depends(require_scope("drivers:read", or_roles=("station",)))],
    registry: RegistryDep,
    cursors: CursorsQuery,
) -> DriverPage:
    if principal.role == "station" and not (body.plate or body.phone or body.national_id):
        raise Problem(403, "Forbidden", "station staff look drivers up by plate, phone or ID")
    after = cursors.open(body.cursor, AfterId)
    criteria = Search(
        plate=body.plate,
        phone=body.phone,
        national_id=body.national_id,
        name_prefix=body.name_prefix,
        fleet_id=body.fleet_id,
        grid_id=body.grid_id,
        organisation_id=body.organisation_id,
        status=body.status,
    )
    found = await registry.lookup.search(
        criteria, after=after.id if after else None, limit=body.limit
    )
    return await driver_page(registry, found, body.limit, principal, cursors)


@router.get("/drivers/{driver_id}", response_model=DriverView, summary="A driver, PII masked")
async def get_driver(driver_id: str, principal: AnyReader, registry: RegistryDep) -> DriverView:
    return await driver_view(registry, principal, await visible(registry, principal, driver_id))


@router.patch(
    "/drivers/{driver_id}",
    response_model=DriverView,
    summary="Change a driver's details (announces driver.updated.v1 with the field names)",
    description=(
        "Operators: any field. A driver on their own record: phone, home_province, languages, "
        "photo_ref. `national_id` only completes a record known by the partner's ID hash."
    ),
)
async def update_driver(
    driver_id: str,
    body: UpdateDriverRequest,
    principal: Annotated[Principal, Depends(require_scope("drivers:write", or_roles=("driver",)))],
    registry: RegistryDep,
) -> DriverView:
    await visible(registry, principal, driver_id)
    given = body.model_dump(exclude_unset=True)
    if principal.role == "driver" and set(given) - _SELF_SERVICE_FIELDS:
        raise Problem(403, "Forbidden", "a driver may change only their contact details")
    for required in ("name", "national_id", "status"):
        if required in given and given[required] is None:
            raise Problem(422, "Unprocessable Content", f"{required} cannot be cleared")
    driver = await registry.lifecycle.update_driver(driver_id, given, actor(principal))
    return await driver_view(registry, principal, driver)


@router.post(
    "/drivers/{driver_id}/deactivation",
    response_model=DriverView,
    summary="Deactivate a driver (announces driver.deactivated.v1; frees their plates)",
)
async def deactivate_driver(
    driver_id: str, body: DeactivateRequest, principal: DriversWriter, registry: RegistryDep
) -> DriverView:
    await visible(registry, principal, driver_id)
    driver = await registry.lifecycle.deactivate(driver_id, body.reason, actor(principal))
    return await driver_view(registry, principal, driver)


@router.post(
    "/drivers/{driver_id}/reactivation",
    response_model=DriverView,
    summary="Reactivate a deactivated driver (announces driver.updated.v1: status)",
)
async def reactivate_driver(
    driver_id: str, principal: DriversWriter, registry: RegistryDep
) -> DriverView:
    await visible(registry, principal, driver_id)
    driver = await registry.lifecycle.reactivate(driver_id, actor(principal))
    return await driver_view(registry, principal, driver)


@router.post(
    "/drivers/{driver_id}/erasure",
    status_code=202,
    response_model=None,
    summary="Ask to erase a driver's personal data; a second security officer approves it",
    description=(
        "Answers 202 with a pending approval request: nothing is erased until a second person "
        "with drivers:erase approves it (POST /v1/approvals/{approval_id}/approve; the maker "
        "cannot). The approval then removes every personal value from the registry's database: "
        "name, ID and phone (hash, ciphertext and mask), family, vehicles and plates, fleet, "
        "grid, memberships, partner links, review items and stored idempotent answers, and "
        "announces driver.deactivated.v1 with erased: true. The pseudonymous id, status, dates, "
        "consent history and verification records stay. Safe to repeat."
    ),
    responses=ACCEPTED,
)
async def erase_driver(
    driver_id: str,
    body: EraseRequest,
    request: Request,
    principal: Eraser,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    await visible(registry, principal, driver_id)
    proposal = erasure_proposal(ERASURE, driver_id, body.reason, idempotency_key)
    return await propose(request.app.state.approvals, proposal, principal)
