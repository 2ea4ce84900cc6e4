"""HTTP -> service. Domain errors become problems in ``registry.app``.

Access (issue 3): operators everything; station staff look drivers up (masked); partners only
drivers they registered or are linked to; drivers only themselves. Someone else's driver answers
404 exactly like a missing one, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.auth import Principal, require_roles
from common.pagination import PageParams, decode_cursor, encode_cursor
from common.problems import Problem
from common.requests import IdempotentRequests
from registry.api.schemas import (
    AccessRecordPage,
    AccessRecordView,
    AddVehicleRequest,
    CampaignPage,
    CampaignRequest,
    CampaignView,
    ChildView,
    ConsentRequest,
    ConsentsView,
    DeactivateRequest,
    DriverPage,
    DriverView,
    EraseRequest,
    FamilyRequest,
    FamilyView,
    FleetPage,
    FleetRequest,
    FleetView,
    GridPage,
    GridProgressView,
    GridRequest,
    GridView,
    MemberRequest,
    MembershipView,
    OrganisationPage,
    OrganisationRequest,
    OrganisationView,
    PassRequest,
    RegisterDriverRequest,
    ResolutionRequest,
    RevealRequest,
    RevealView,
    ReviewPage,
    ReviewView,
    SearchRequest,
    UpdateDriverRequest,
    VehiclePage,
    VehicleView,
    VerificationRequest,
)
from registry.domain import (
    CONSENT_PURPOSES,
    ConsentPurpose,
    Driver,
    DriverNotFound,
    DriverStatus,
    OrganisationKind,
    RegistrationChannel,
    ReviewStatus,
)
from registry.service import Actor, ChildInput, FamilyInput, Registration, RegistryService, Search

drivers = APIRouter(prefix="/v1", tags=["drivers"])
vehicles = APIRouter(prefix="/v1", tags=["vehicles and passes"])
people = APIRouter(prefix="/v1", tags=["consent and family"])
units = APIRouter(prefix="/v1", tags=["fleets, grids and organisations"])
census = APIRouter(prefix="/v1", tags=["census"])
oversight = APIRouter(prefix="/v1", tags=["reviews and PII access"])
routers = [drivers, vehicles, people, units, census, oversight]

_CHANNEL_OF_ROLE: dict[str, RegistrationChannel] = {
    "operator": "operator",
    "station": "station",
    "partner": "partner",
    "driver": "self",
}
# What a driver may change on their own record.
_SELF_SERVICE_FIELDS = {"phone", "home_province", "languages", "photo_ref"}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe: the same key and body answer the first answer again",
    ),
]

Operator = Annotated[Principal, Depends(require_roles("operator"))]
AnyRole = Annotated[Principal, Depends(require_roles("operator", "station", "partner", "driver"))]


def _service(request: Request) -> RegistryService:
    service: RegistryService = request.app.state.service
    return service


Service = Annotated[RegistryService, Depends(_service)]


def _actor(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, role=principal.role, partner_id=principal.partner_id)


def _not_found() -> Problem:
    return Problem(404, "Not Found", "no such driver")


async def _visible(service: RegistryService, principal: Principal, driver_id: str) -> Driver:
    """The driver if this caller may see them; 404 otherwise, exactly like a missing one."""
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise _not_found()
    try:
        driver = await service.get_driver(driver_id)
    except DriverNotFound as exc:
        raise _not_found() from exc
    if principal.role == "partner" and not driver.is_linked_to(principal.partner_id):
        raise _not_found()
    return driver


async def _view(service: RegistryService, principal: Principal, driver: Driver) -> DriverView:
    held = await service.vehicles_of([driver.driver_id])
    partner = principal.partner_id if principal.role == "partner" else None
    return DriverView.of(driver, held.get(driver.driver_id, []), partner_id=partner)


async def _page(
    service: RegistryService, found: list[Driver], limit: int, principal: Principal
) -> DriverPage:
    held = await service.vehicles_of([d.driver_id for d in found])
    partner = principal.partner_id if principal.role == "partner" else None
    items = [DriverView.of(d, held.get(d.driver_id, []), partner_id=partner) for d in found]
    cursor = encode_cursor({"id": found[-1].driver_id}) if len(found) == limit else None
    return DriverPage(items=items, next_cursor=cursor)


def _after(page: PageParams) -> str | None:
    value = (page.after or {}).get("id")
    return str(value) if value is not None else None


def _next(ids: list[str], limit: int) -> str | None:
    return encode_cursor({"id": ids[-1]}) if len(ids) == limit else None


async def _once(
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    action: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> JSONResponse:
    """Run a retryable write at most once per ``(caller, Idempotency-Key)``."""
    requests: IdempotentRequests = request.app.state.requests

    async def run() -> tuple[int, Any]:
        status, answer = await action()
        return status, answer.model_dump(mode="json")

    fingerprint = {"path": request.url.path, "body": body.model_dump(mode="json") if body else None}
    status, answer = await requests.run(caller=principal.sub, key=key, body=fingerprint, action=run)
    return JSONResponse(answer, status_code=status)


# ---------------------------------------------------------------------- drivers


@drivers.post(
    "/drivers",
    status_code=201,
    response_model=DriverView,
    summary="Register a driver (idempotent on the national ID)",
    responses={
        200: {"description": "Already registered: the existing driver (nothing overwritten)"},
        409: {"description": "The plate belongs to another active driver"},
    },
)
async def register_driver(
    body: RegisterDriverRequest,
    request: Request,
    principal: AnyRole,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if body.partner_driver_ref is not None and principal.role != "partner":
        raise Problem(403, "Forbidden", "only partners give a partner_driver_ref")

    async def act() -> tuple[int, BaseModel]:
        driver, created = await service.register_driver(
            Registration(**{**body.model_dump(), "languages": tuple(body.languages)}),
            _CHANNEL_OF_ROLE[principal.role],
            _actor(principal),
        )
        if not created and principal.role == "driver" and principal.driver_id != driver.driver_id:
            # Someone else's record stays out of sight, even to a caller who knows the number.
            raise Problem(409, "Conflict", "this person is already registered; ask a station")
        return (201 if created else 200), await _view(service, principal, driver)

    return await _once(request, principal, idempotency_key, body, act)


@drivers.get(
    "/drivers",
    response_model=DriverPage,
    summary="List and search drivers by non-sensitive criteria (operators)",
)
async def list_drivers(
    principal: Operator,
    service: Service,
    page: Annotated[PageParams, Depends()],
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
    found = await service.search(criteria, after=_after(page), limit=page.limit)
    return await _page(service, found, page.limit, principal)


@drivers.post(
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
    principal: Annotated[Principal, Depends(require_roles("operator", "station"))],
    service: Service,
) -> DriverPage:
    if principal.role == "station" and not (body.plate or body.phone or body.national_id):
        raise Problem(403, "Forbidden", "station staff look drivers up by plate, phone or ID")
    after = (decode_cursor(body.cursor) or {}).get("id")
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
    found = await service.search(criteria, after=str(after) if after else None, limit=body.limit)
    return await _page(service, found, body.limit, principal)


@drivers.get("/drivers/{driver_id}", response_model=DriverView, summary="A driver, PII masked")
async def get_driver(driver_id: str, principal: AnyRole, service: Service) -> DriverView:
    return await _view(service, principal, await _visible(service, principal, driver_id))


@drivers.patch(
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
    principal: Annotated[Principal, Depends(require_roles("operator", "driver"))],
    service: Service,
) -> DriverView:
    await _visible(service, principal, driver_id)
    given = body.model_dump(exclude_unset=True)
    if principal.role == "driver" and set(given) - _SELF_SERVICE_FIELDS:
        raise Problem(403, "Forbidden", "a driver may change only their contact details")
    for required in ("name", "national_id", "status"):
        if required in given and given[required] is None:
            raise Problem(422, "Unprocessable Content", f"{required} cannot be cleared")
    driver = await service.update_driver(driver_id, given, _actor(principal))
    return await _view(service, principal, driver)


@drivers.post(
    "/drivers/{driver_id}/deactivation",
    response_model=DriverView,
    summary="Deactivate a driver (announces driver.deactivated.v1; frees their plates)",
)
async def deactivate_driver(
    driver_id: str, body: DeactivateRequest, principal: Operator, service: Service
) -> DriverView:
    await _visible(service, principal, driver_id)
    driver = await service.deactivate(driver_id, body.reason, _actor(principal))
    return await _view(service, principal, driver)


@drivers.post(
    "/drivers/{driver_id}/reactivation",
    response_model=DriverView,
    summary="Reactivate a deactivated driver (announces driver.updated.v1: status)",
)
async def reactivate_driver(driver_id: str, principal: Operator, service: Service) -> DriverView:
    await _visible(service, principal, driver_id)
    driver = await service.reactivate(driver_id, _actor(principal))
    return await _view(service, principal, driver)


@drivers.post(
    "/drivers/{driver_id}/erasure",
    response_model=DriverView,
    summary="Erase a driver's personal data (driver.deactivated.v1 with erased: true)",
    description=(
        "Removes every personal value from the registry's database: name, ID and phone (hash, "
        "ciphertext and mask), family, vehicles and plates, fleet, grid, memberships, partner "
        "links, review items and stored idempotent answers. The pseudonymous id, status, dates, "
        "consent history and verification records stay. Safe to repeat."
    ),
)
async def erase_driver(
    driver_id: str, body: EraseRequest, principal: Operator, service: Service
) -> DriverView:
    await _visible(service, principal, driver_id)
    driver = await service.erase(driver_id, body.reason, _actor(principal))
    return await _view(service, principal, driver)


# ---------------------------------------------------------------------- vehicles and passes


@vehicles.get(
    "/drivers/{driver_id}/vehicles",
    response_model=list[VehicleView],
    summary="A driver's vehicles and port passes",
)
async def list_vehicles(driver_id: str, principal: AnyRole, service: Service) -> list[VehicleView]:
    await _visible(service, principal, driver_id)
    held = await service.vehicles_of([driver_id])
    return [VehicleView.of(v) for v in held.get(driver_id, [])]


@vehicles.post(
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
    principal: Operator,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    await _visible(service, principal, driver_id)

    async def act() -> tuple[int, BaseModel]:
        vehicle, created = await service.add_vehicle(
            driver_id, body.plate, body.vehicle_type, body.pass_number, body.pass_expires_on
        )
        return (201 if created else 200), VehicleView.of(vehicle)

    return await _once(request, principal, idempotency_key, body, act)


@vehicles.put(
    "/drivers/{driver_id}/vehicles/{plate}/pass",
    response_model=VehicleView,
    summary="Record a vehicle's port entry pass (number and expiry)",
)
async def set_pass(
    driver_id: str, plate: str, body: PassRequest, principal: Operator, service: Service
) -> VehicleView:
    await _visible(service, principal, driver_id)
    vehicle = await service.update_pass(driver_id, plate, body.pass_number, body.pass_expires_on)
    return VehicleView.of(vehicle)


@vehicles.delete(
    "/drivers/{driver_id}/vehicles/{plate}",
    status_code=204,
    summary="Remove a vehicle (frees its plate)",
)
async def remove_vehicle(
    driver_id: str, plate: str, principal: Operator, service: Service
) -> Response:
    await _visible(service, principal, driver_id)
    await service.remove_vehicle(driver_id, plate)
    return Response(status_code=204)


@vehicles.get(
    "/passes/due",
    response_model=VehiclePage,
    summary="Port passes due for annual review: expiring on or before `by`, soonest first",
)
async def passes_due(
    principal: Operator,
    service: Service,
    page: Annotated[PageParams, Depends()],
    by: Annotated[date | None, Query(description="Default: 30 days from today")] = None,
) -> VehiclePage:
    due_by = by or (datetime.now(UTC).date() + timedelta(days=30))
    position = page.after or {}
    after = (str(position["e"]), str(position["p"])) if "e" in position else None
    found = await service.passes_due(due_by, after=after, limit=page.limit)
    cursor = None
    if len(found) == page.limit and found[-1].pass_expires_on is not None:
        cursor = encode_cursor({"e": found[-1].pass_expires_on.isoformat(), "p": found[-1].plate})
    return VehiclePage(items=[VehicleView.of(v) for v in found], next_cursor=cursor)


# ---------------------------------------------------------------------- consent and family


@people.get(
    "/drivers/{driver_id}/consents",
    response_model=ConsentsView,
    summary="Consents per purpose, with when and through which channel",
)
async def get_consents(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_roles("operator", "station", "driver"))],
    service: Service,
) -> ConsentsView:
    driver = await _visible(service, principal, driver_id)
    return ConsentsView(
        driver_id=driver_id,
        current=dict(driver.consents),
        history=driver.consent_history,
        purposes=list(CONSENT_PURPOSES),
    )


@people.put(
    "/drivers/{driver_id}/consents/{purpose}",
    response_model=ConsentsView,
    summary="Give or withdraw consent for a purpose (withdrawing family_services erases family)",
)
async def set_consent(
    driver_id: str,
    purpose: ConsentPurpose,
    body: ConsentRequest,
    principal: Annotated[Principal, Depends(require_roles("operator", "station", "driver"))],
    service: Service,
) -> ConsentsView:
    await _visible(service, principal, driver_id)
    if principal.role == "station" and body.channel != "station":
        # Station staff record only what the driver says at the counter, and the record says so.
        raise Problem(403, "Forbidden", "station staff record consent given at the station")
    driver = await service.set_consent(
        driver_id, purpose, body.granted, body.channel, _actor(principal)
    )
    return ConsentsView(
        driver_id=driver_id,
        current=dict(driver.consents),
        history=driver.consent_history,
        purposes=list(CONSENT_PURPOSES),
    )


def _family_view(service: RegistryService, driver: Driver) -> FamilyView:
    family = driver.family
    return FamilyView(
        driver_id=driver.driver_id,
        spouse_name=family.spouse_name.masked if family and family.spouse_name else None,
        children=[
            ChildView(
                child_id=c.child_id,
                name=c.name.masked,
                birth_year=c.birth_year,
                school_age=service.school_age(c),
            )
            for c in (family.children if family else [])
        ],
    )


@people.get(
    "/drivers/{driver_id}/family",
    response_model=FamilyView,
    summary="Spouse and children, names masked (full names: the reveal endpoint)",
)
async def get_family(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_roles("operator", "driver"))],
    service: Service,
) -> FamilyView:
    return _family_view(service, await _visible(service, principal, driver_id))


@people.put(
    "/drivers/{driver_id}/family",
    response_model=FamilyView,
    summary="Record spouse and children (needs the family_services consent: 409 without)",
    description=(
        "Children keep their `child_id` when it is sent back (the points service's "
        "school-admission statements refer to it); children left out are removed."
    ),
)
async def set_family(
    driver_id: str,
    body: FamilyRequest,
    principal: Annotated[Principal, Depends(require_roles("operator", "driver"))],
    service: Service,
) -> FamilyView:
    await _visible(service, principal, driver_id)
    family = FamilyInput(
        spouse_name=body.spouse_name,
        children=[ChildInput(c.name, c.birth_year, c.child_id) for c in body.children],
    )
    driver = await service.set_family(driver_id, family, _actor(principal))
    return _family_view(service, driver)


@people.delete("/drivers/{driver_id}/family", status_code=204, summary="Remove all family details")
async def clear_family(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_roles("operator", "driver"))],
    service: Service,
) -> Response:
    await _visible(service, principal, driver_id)
    await service.clear_family(driver_id, _actor(principal))
    return Response(status_code=204)


# ---------------------------------------------------------------------- PII reveal and audit


@oversight.post(
    "/drivers/{driver_id}/pii/reveal",
    response_model=RevealView,
    summary="Reveal a full value (operators with scope pii:read; every call is audited)",
    description=(
        "`field`: national_id, phone or family. `purpose` is a code and `case_ref` a plain "
        "reference, so the audit record never holds a personal value."
    ),
)
async def reveal(
    driver_id: str, body: RevealRequest, principal: Operator, service: Service
) -> RevealView:
    if not principal.has_scope("pii:read"):
        raise Problem(403, "Forbidden", "revealing personal data needs the pii:read scope")
    await _visible(service, principal, driver_id)
    value = await service.reveal(
        driver_id, body.field, body.purpose, body.case_ref, _actor(principal)
    )
    return RevealView(driver_id=driver_id, field=body.field, value=value)


@oversight.get(
    "/pii-access",
    response_model=AccessRecordPage,
    summary="The access audit: who revealed which field of which driver, when and why",
)
async def access_records(
    principal: Operator,
    service: Service,
    page: Annotated[PageParams, Depends()],
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
) -> AccessRecordPage:
    found = await service.access_records(driver_id=driver_id, after=_after(page), limit=page.limit)
    return AccessRecordPage(
        items=[AccessRecordView.of(r) for r in found],
        next_cursor=_next([r.access_id for r in found], page.limit),
    )


@oversight.get(
    "/reviews",
    response_model=ReviewPage,
    summary="The review queue: registration data that disagreed with the register",
)
async def list_reviews(
    principal: Operator,
    service: Service,
    page: Annotated[PageParams, Depends()],
    status: ReviewStatus | None = "open",
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
) -> ReviewPage:
    found = await service.reviews(
        status=status, driver_id=driver_id, after=_after(page), limit=page.limit
    )
    return ReviewPage(
        items=[ReviewView.of(r) for r in found],
        next_cursor=_next([r.review_id for r in found], page.limit),
    )


@oversight.post(
    "/reviews/{review_id}/resolution",
    response_model=ReviewView,
    summary="Accept the proposed value (applied and announced) or reject it",
)
async def resolve_review(
    review_id: str, body: ResolutionRequest, principal: Operator, service: Service
) -> ReviewView:
    return ReviewView.of(await service.resolve_review(review_id, body.decision, _actor(principal)))


# ------------------------------------------------------------------ fleets, grids, organisations


@units.post("/fleets", status_code=201, response_model=FleetView, summary="Add a fleet")
async def create_fleet(
    body: FleetRequest,
    request: Request,
    principal: Operator,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        return 201, FleetView.of(await service.create_fleet(body.name, body.kind))

    return await _once(request, principal, idempotency_key, body, act)


@units.get("/fleets", response_model=FleetPage, summary="Fleets")
async def list_fleets(
    principal: Operator, service: Service, page: Annotated[PageParams, Depends()]
) -> FleetPage:
    found = await service.fleets(after=_after(page), limit=page.limit)
    return FleetPage(
        items=[FleetView.of(f) for f in found],
        next_cursor=_next([f.fleet_id for f in found], page.limit),
    )


@units.get("/fleets/{fleet_id}", response_model=FleetView, summary="A fleet")
async def get_fleet(fleet_id: str, principal: Operator, service: Service) -> FleetView:
    return FleetView.of(await service.get_fleet(fleet_id))


@units.post("/grids", status_code=201, response_model=GridView, summary="Add a grid")
async def create_grid(
    body: GridRequest,
    request: Request,
    principal: Operator,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        grid = await service.create_grid(body.name, body.community, body.street)
        return 201, GridView.of(grid)

    return await _once(request, principal, idempotency_key, body, act)


@units.get("/grids", response_model=GridPage, summary="Grids and their communities")
async def list_grids(
    principal: Operator, service: Service, page: Annotated[PageParams, Depends()]
) -> GridPage:
    found = await service.grids(after=_after(page), limit=page.limit)
    return GridPage(
        items=[GridView.of(g) for g in found],
        next_cursor=_next([g.grid_id for g in found], page.limit),
    )


@units.get("/grids/{grid_id}", response_model=GridView, summary="A grid")
async def get_grid(grid_id: str, principal: Operator, service: Service) -> GridView:
    return GridView.of(await service.get_grid(grid_id))


@units.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationView,
    summary="Add an organisation (party branches name their type)",
)
async def create_organisation(
    body: OrganisationRequest,
    request: Request,
    principal: Operator,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        organisation = await service.create_organisation(
            body.name, body.kind, body.branch_type, body.grid_id, body.fleet_id
        )
        return 201, OrganisationView.of(organisation)

    return await _once(request, principal, idempotency_key, body, act)


@units.get("/organisations", response_model=OrganisationPage, summary="Organisations")
async def list_organisations(
    principal: Operator,
    service: Service,
    page: Annotated[PageParams, Depends()],
    kind: OrganisationKind | None = None,
) -> OrganisationPage:
    found = await service.organisations(kind=kind, after=_after(page), limit=page.limit)
    return OrganisationPage(
        items=[OrganisationView.of(o) for o in found],
        next_cursor=_next([o.organisation_id for o in found], page.limit),
    )


@units.get(
    "/organisations/{organisation_id}", response_model=OrganisationView, summary="An organisation"
)
async def get_organisation(
    organisation_id: str, principal: Operator, service: Service
) -> OrganisationView:
    return OrganisationView.of(await service.get_organisation(organisation_id))


@units.get(
    "/organisations/{organisation_id}/members",
    response_model=DriverPage,
    summary="An organisation's members",
)
async def list_members(
    organisation_id: str,
    principal: Operator,
    service: Service,
    page: Annotated[PageParams, Depends()],
) -> DriverPage:
    await service.get_organisation(organisation_id)
    found = await service.search(
        Search(organisation_id=organisation_id), after=_after(page), limit=page.limit
    )
    return await _page(service, found, page.limit, principal)


@units.post(
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
    principal: Operator,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def act() -> tuple[int, BaseModel]:
        membership, created = await service.add_member(
            organisation_id, body.driver_id, body.role, body.mobile, body.home_organisation
        )
        return (201 if created else 200), MembershipView.of(body.driver_id, membership)

    return await _once(request, principal, idempotency_key, body, act)


@units.delete(
    "/organisations/{organisation_id}/members/{driver_id}",
    status_code=204,
    summary="Remove a member",
)
async def remove_member(
    organisation_id: str, driver_id: str, principal: Operator, service: Service
) -> Response:
    await service.remove_member(organisation_id, driver_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------- census


async def _campaign_view(service: RegistryService, campaign_id: str) -> CampaignView:
    campaign = await service.get_campaign(campaign_id)
    progress = [GridProgressView(**vars(p)) for p in await service.campaign_progress(campaign_id)]
    return CampaignView.of(campaign, progress)


@census.post(
    "/census/campaigns",
    status_code=201,
    response_model=CampaignView,
    summary="Start the quarterly census (one campaign per quarter; again answers it, 200)",
)
async def start_campaign(
    body: CampaignRequest, principal: Operator, service: Service, response: Response
) -> CampaignView:
    campaign, created = await service.start_campaign(body.quarter, body.grid_ids, _actor(principal))
    if not created:
        response.status_code = 200
    return await _campaign_view(service, campaign.campaign_id)


@census.get("/census/campaigns", response_model=CampaignPage, summary="Census campaigns")
async def list_campaigns(
    principal: Operator, service: Service, page: Annotated[PageParams, Depends()]
) -> CampaignPage:
    found = await service.campaigns(after=_after(page), limit=page.limit)
    return CampaignPage(
        items=[CampaignView.of(c) for c in found],
        next_cursor=_next([c.campaign_id for c in found], page.limit),
    )


@census.get(
    "/census/campaigns/{campaign_id}",
    response_model=CampaignView,
    summary="A campaign with its progress per grid",
)
async def get_campaign(campaign_id: str, principal: Operator, service: Service) -> CampaignView:
    return await _campaign_view(service, campaign_id)


@census.get(
    "/census/campaigns/{campaign_id}/pending",
    response_model=DriverPage,
    summary="Active drivers (of a grid) not verified since the campaign's quarter began",
)
async def campaign_pending(
    campaign_id: str,
    principal: Annotated[Principal, Depends(require_roles("operator", "station"))],
    service: Service,
    page: Annotated[PageParams, Depends()],
    grid_id: Annotated[str | None, Query(max_length=100)] = None,
) -> DriverPage:
    found = await service.campaign_pending(
        campaign_id, grid_id, after=_after(page), limit=page.limit
    )
    return await _page(service, found, page.limit, principal)


@census.post(
    "/drivers/{driver_id}/verifications",
    response_model=DriverView,
    summary="Record a census verification (announces driver.verified.v1 with changed fields)",
)
async def verify_driver(
    driver_id: str,
    body: VerificationRequest,
    principal: Annotated[Principal, Depends(require_roles("operator", "station"))],
    service: Service,
) -> DriverView:
    await _visible(service, principal, driver_id)
    given = body.changes.model_dump(exclude_unset=True)
    for required in ("name", "national_id", "status"):
        if required in given and given[required] is None:
            raise Problem(422, "Unprocessable Content", f"{required} cannot be cleared")
    driver = await service.verify(driver_id, body.campaign_id, given, _actor(principal))
    return await _view(service, principal, driver)
