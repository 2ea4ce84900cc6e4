"""HTTP for fleets, residence grids, organisations and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.pagination import PageQuery
from common.requests import IdempotencyKey, run_once
from registry.api.dependencies import (
    DriversReader,
    OrgsManager,
    RegistryDep,
    after_id,
    drivers_matching,
    page_of,
)
from registry.api.schemas import DriverPage, MembershipView
from registry.api.units_schemas import (
    FleetPage,
    FleetRequest,
    FleetView,
    GridPage,
    GridRequest,
    GridStationRequest,
    GridView,
    MemberRequest,
    OrganisationPage,
    OrganisationRequest,
    OrganisationView,
)
from registry.groups import OrganisationKind
from registry.lookup import Search

router = APIRouter(prefix="/v1", tags=["fleets, grids and organisations"])


@router.post("/fleets", status_code=201, response_model=FleetView, summary="Add a fleet")
async def create_fleet(
    body: FleetRequest,
    request: Request,
    principal: OrgsManager,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        return 201, FleetView.of(await registry.units.create_fleet(body.name, body.kind))

    return await run_once(request, principal, idempotency_key, body, act)


@router.get("/fleets", response_model=FleetPage, summary="Fleets")
async def list_fleets(
    principal: DriversReader, registry: RegistryDep, page: PageQuery
) -> FleetPage:
    found = await registry.units.fleets(after=after_id(page), limit=page.limit)
    return page_of(FleetPage, found, FleetView.of, lambda f: f.fleet_id, page)


@router.get("/fleets/{fleet_id}", response_model=FleetView, summary="A fleet")
async def get_fleet(fleet_id: str, principal: DriversReader, registry: RegistryDep) -> FleetView:
    return FleetView.of(await registry.units.get_fleet(fleet_id))


@router.post("/grids", status_code=201, response_model=GridView, summary="Add a grid")
async def create_grid(
    body: GridRequest,
    request: Request,
    principal: OrgsManager,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        grid = await registry.units.create_grid(
            body.name,
            body.community,
            body.street,
            body.station_id,
            parent_id=body.parent_id,
            level=body.level,
        )
        return 201, GridView.of(grid)

    return await run_once(request, principal, idempotency_key, body, act)


@router.get("/grids", response_model=GridPage, summary="Grids and their communities")
async def list_grids(principal: DriversReader, registry: RegistryDep, page: PageQuery) -> GridPage:
    found = await registry.units.grids(after=after_id(page), limit=page.limit)
    return page_of(GridPage, found, GridView.of, lambda g: g.grid_id, page)


@router.put(
    "/grids/{grid_id}/station",
    response_model=GridView,
    summary="Assign the grid's census to a station (its staff verify the grid's drivers)",
)
async def assign_grid_station(
    grid_id: str, body: GridStationRequest, principal: OrgsManager, registry: RegistryDep
) -> GridView:
    return GridView.of(await registry.units.assign_station(grid_id, body.station_id))


@router.get("/grids/{grid_id}", response_model=GridView, summary="A grid")
async def get_grid(grid_id: str, principal: DriversReader, registry: RegistryDep) -> GridView:
    return GridView.of(await registry.units.get_grid(grid_id))


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationView,
    summary="Add an organisation (party branches name their type)",
)
async def create_organisation(
    body: OrganisationRequest,
    request: Request,
    principal: OrgsManager,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        organisation = await registry.units.create_organisation(
            body.name,
            body.kind,
            body.branch_type,
            body.grid_id,
            body.fleet_id,
            parent_id=body.parent_id,
            departments=body.departments,
        )
        return 201, OrganisationView.of(organisation)

    return await run_once(request, principal, idempotency_key, body, act)


@router.get("/organisations", response_model=OrganisationPage, summary="Organisations")
async def list_organisations(
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    kind: OrganisationKind | None = None,
) -> OrganisationPage:
    found = await registry.units.organisations(kind=kind, after=after_id(page), limit=page.limit)
    return page_of(OrganisationPage, found, OrganisationView.of, lambda o: o.organisation_id, page)


@router.get(
    "/organisations/{organisation_id}", response_model=OrganisationView, summary="An organisation"
)
async def get_organisation(
    organisation_id: str, principal: DriversReader, registry: RegistryDep
) -> OrganisationView:
    return OrganisationView.of(await registry.units.get_organisation(organisation_id))


@router.get(
    "/organisations/{organisation_id}/members",
    response_model=DriverPage,
    summary="An organisation's members",
)
async def list_members(
    organisation_id: str,
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    subtree: Annotated[
        bool, Query(description="Members of this organisation and every one below it")
    ] = False,
) -> DriverPage:
    if subtree:
        ids = await registry.district.organisation_ids_under(organisation_id)
        criteria = Search(organisation_ids=ids)
    else:
        await registry.units.get_organisation(organisation_id)
        criteria = Search(organisation_id=organisation_id)
    return await drivers_matching(registry, criteria, principal, page)


@router.post(
    "/organisations/{organisation_id}/members",
    status_code=201,
    response_model=MembershipView,
    summary="Add a member (mobile members belong to a home organisation elsewhere)",
    responses={200: {"description": "Already a member"}},
)
async def add_member(
    organisation_id: str,
    body: MemberRequest,
    request: Request,
    principal: OrgsManager,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        membership, created = await registry.units.add_member(
            organisation_id,
            body.driver_id,
            body.role,
            body.mobile,
            body.home_organisation,
            residence_organisation_id=body.residence_organisation_id,
        )
        return (201 if created else 200), MembershipView.of(body.driver_id, membership)

    return await run_once(request, principal, idempotency_key, body, act)


@router.delete(
    "/organisations/{organisation_id}/members/{driver_id}",
    status_code=204,
    summary="Remove a member",
)
async def remove_member(
    organisation_id: str, driver_id: str, principal: OrgsManager, registry: RegistryDep
) -> Response:
    await registry.units.remove_member(organisation_id, driver_id)
    return Response(status_code=204)
