"""HTTP for the district (issue 16): moving and reading subtrees of organisations and grids,
people in roles, route grids and their alliances, drivers' declared routes, the figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.auth import Principal
from common.authz import require_scope
from common.pagination import PageQuery
from common.requests import IdempotencyKey, run_once
from registry.api.dependencies import (
    DriversReader,
    OrgsManager,
    RegistryDep,
    after_id,
    drivers_matching,
    page_of,
    visible,
)
from registry.api.district_schemas import (
    AppointmentList,
    AppointmentRequest,
    AppointmentView,
    DistrictFigures,
    ParentRequest,
    PersonRequest,
    PersonView,
    RouteGridList,
    RouteGridRequest,
    RouteGridView,
    RoutesRequest,
    RoutesView,
)
from registry.api.schemas import DriverPage
from registry.api.units_schemas import GridPage, GridView, OrganisationPage, OrganisationView
from registry.groups import GridLevel, OrganisationKind
from registry.lookup import Search

router = APIRouter(prefix="/v1", tags=["district: trees, people, route grids"])
# A driver declares their own routes; operators with drivers:write for anyone.
RoutesWriter = Annotated[Principal, Depends(require_scope("drivers:write", or_roles=("driver",)))]
Subtree = Annotated[bool, Query(description="This unit and every one below it")]


@router.put(
    "/organisations/{organisation_id}/parent",
    response_model=OrganisationView,
    summary="Move an organisation and its subtree (announced: organisation.placed.v1 per node)",
    responses={
        409: {
            "description": "The new parent is the organisation or below it, or another "
            "move of the tree is under way"
        }
    },
)
async def move_organisation(
    organisation_id: str, body: ParentRequest, principal: OrgsManager, registry: RegistryDep
) -> OrganisationView:
    moved = await registry.district.move_organisation(organisation_id, body.parent_id)
    return OrganisationView.of(moved)


@router.get(
    "/organisations/{organisation_id}/subtree",
    response_model=OrganisationPage,
    summary="An organisation and every organisation below it",
)
async def organisation_subtree(
    organisation_id: str,
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    kind: OrganisationKind | None = None,
) -> OrganisationPage:
    found = await registry.district.organisation_subtree(
        organisation_id, kind=kind, after=after_id(page), limit=page.limit
    )
    return page_of(OrganisationPage, found, OrganisationView.of, lambda o: o.organisation_id, page)


@router.post("/people", status_code=201, response_model=PersonView, summary="Add a non-driver")
async def add_person(
    body: PersonRequest,
    request: Request,
    principal: OrgsManager,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        return 201, PersonView.of(await registry.district.add_person(body.name, body.kind))

    return await run_once(request, principal, idempotency_key, body, act)


@router.get("/people/{person_id}", response_model=PersonView, summary="A person")
async def get_person(person_id: str, principal: DriversReader, registry: RegistryDep) -> PersonView:
    return PersonView.of(await registry.district.get_person(person_id))


@router.put(
    "/organisations/{organisation_id}/people/{person_id}",
    status_code=201,
    response_model=AppointmentView,
    summary="Appoint a person (secretary, instructor, dual instructor, member...)",
    responses={200: {"description": "Already in that role"}, 409: {"description": "Taken"}},
)
async def appoint(
    organisation_id: str,
    person_id: str,
    body: AppointmentRequest,
    principal: OrgsManager,
    registry: RegistryDep,
) -> JSONResponse:
    appointment, created = await registry.district.appoint(organisation_id, person_id, body.role)
    view = AppointmentView.of(appointment)
    return JSONResponse(view.model_dump(mode="json"), status_code=201 if created else 200)


@router.delete(
    "/organisations/{organisation_id}/people/{person_id}",
    status_code=204,
    summary="End a person's role",
)
async def dismiss(
    organisation_id: str, person_id: str, principal: OrgsManager, registry: RegistryDep
) -> Response:
    await registry.district.dismiss(organisation_id, person_id)
    return Response(status_code=204)


@router.get(
    "/organisations/{organisation_id}/people",
    response_model=AppointmentList,
    summary="The people in roles in an organisation (or its subtree)",
)
async def people_of(
    organisation_id: str, principal: DriversReader, registry: RegistryDep, subtree: Subtree = False
) -> AppointmentList:
    found = await registry.district.people_of(organisation_id, subtree=subtree)
    return AppointmentList(items=[AppointmentView.of(a, p) for a, p in found])


@router.put(
    "/grids/{grid_id}/parent",
    response_model=GridView,
    summary="Move a grid and its subtree (announced: grid.placed.v1 per node)",
    responses={
        409: {
            "description": "The new parent is the grid or below it, or another move of "
            "the tree is under way"
        }
    },
)
async def move_grid(
    grid_id: str, body: ParentRequest, principal: OrgsManager, registry: RegistryDep
) -> GridView:
    return GridView.of(await registry.district.move_grid(grid_id, body.parent_id))


@router.get(
    "/grids/{grid_id}/subtree",
    response_model=GridPage,
    summary="A grid and every grid below it (down to micro-grids)",
)
async def grid_subtree(
    grid_id: str,
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    level: GridLevel | None = None,
) -> GridPage:
    found = await registry.district.grid_subtree(
        grid_id, level=level, after=after_id(page), limit=page.limit
    )
    return page_of(GridPage, found, GridView.of, lambda g: g.grid_id, page)


@router.get(
    "/grids/{grid_id}/drivers", response_model=DriverPage, summary="Drivers of a grid (or subtree)"
)
async def grid_drivers(
    grid_id: str,
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
    subtree: Subtree = False,
) -> DriverPage:
    ids = await registry.district.grid_ids_under(grid_id) if subtree else [grid_id]
    if not subtree:
        await registry.units.get_grid(grid_id)
    return await drivers_matching(registry, Search(grid_ids=ids), principal, page)


@router.post(
    "/route-grids", status_code=201, response_model=RouteGridView, summary="Add a route grid"
)
async def add_route_grid(
    body: RouteGridRequest,
    request: Request,
    principal: OrgsManager,
    registry: RegistryDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        grid = await registry.district.add_route_grid(body.name, body.places)
        return 201, RouteGridView.of(grid)

    return await run_once(request, principal, idempotency_key, body, act)


@router.get("/route-grids", response_model=RouteGridList, summary="Route grids")
async def route_grids(principal: DriversReader, registry: RegistryDep) -> RouteGridList:
    return RouteGridList(items=[RouteGridView.of(g) for g in await registry.district.route_grids()])


@router.get("/route-grids/{route_grid_id}", response_model=RouteGridView, summary="A route grid")
async def route_grid(
    route_grid_id: str, principal: DriversReader, registry: RegistryDep
) -> RouteGridView:
    return RouteGridView.of(await registry.district.get_route_grid(route_grid_id))


@router.put(
    "/route-grids/{route_grid_id}/alliance/{organisation_id}",
    response_model=RouteGridView,
    summary="An organisation joins the route grid's party alliance",
)
async def join_alliance(
    route_grid_id: str, organisation_id: str, principal: OrgsManager, registry: RegistryDep
) -> RouteGridView:
    grid = await registry.district.join_alliance(route_grid_id, organisation_id)
    return RouteGridView.of(grid)


@router.delete(
    "/route-grids/{route_grid_id}/alliance/{organisation_id}",
    response_model=RouteGridView,
    summary="An organisation leaves the alliance",
)
async def leave_alliance(
    route_grid_id: str, organisation_id: str, principal: OrgsManager, registry: RegistryDep
) -> RouteGridView:
    grid = await registry.district.leave_alliance(route_grid_id, organisation_id)
    return RouteGridView.of(grid)


@router.get(
    "/route-grids/{route_grid_id}/drivers",
    response_model=DriverPage,
    summary="Drivers whose declared routes join the route grid",
)
async def route_grid_drivers(
    route_grid_id: str,
    principal: DriversReader,
    registry: RegistryDep,
    page: PageQuery,
) -> DriverPage:
    await registry.district.get_route_grid(route_grid_id)
    return await drivers_matching(registry, Search(route_grid_id=route_grid_id), principal, page)


@router.put(
    "/drivers/{driver_id}/routes",
    response_model=RoutesView,
    summary="Declare a driver's routes; they join the route grids the routes touch",
)
async def declare_routes(
    driver_id: str, body: RoutesRequest, principal: RoutesWriter, registry: RegistryDep
) -> RoutesView:
    await visible(registry, principal, driver_id)
    joined = await registry.district.declare_routes(driver_id, [r.route() for r in body.routes])
    return RoutesView(driver_id=driver_id, route_grid_ids=joined)


@router.get(
    "/district/figures",
    response_model=DistrictFigures,
    summary="Organisations by kind and branch type, grids by level, route grids, people by role",
)
async def figures(
    principal: DriversReader,
    registry: RegistryDep,
    organisation_id: Annotated[
        str | None, Query(max_length=100, description="Count this organisation's subtree only")
    ] = None,
    grid_id: Annotated[
        str | None, Query(max_length=100, description="Count this grid's subtree only")
    ] = None,
) -> DistrictFigures:
    found = await registry.district.figures(organisation_id=organisation_id, grid_id=grid_id)
    return DistrictFigures(**found)
