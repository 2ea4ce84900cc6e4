"""Cases over HTTP: the taxonomy, opening a case, listing cases and reading one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from cases import domain
from cases.access import refuse_driver_filters, sees_duplicates
from cases.api.dependencies import Caller, CasesDep, view
from cases.api.schemas import CasePage, CaseView, OpenCaseRequest, OpenedView
from cases.intake import Intake
from cases.store.units import DistrictUnits
from common.pagination import AfterTime, PageQuery
from common.requests import run_once

# Which of the registry's units a case list targets (issue 16), learnt from registry.events.
UnitFilter = Literal["grid", "organisation", "route_grid"]

router = APIRouter(prefix="/v1")


@router.get("/categories", tags=["cases"], summary="The category taxonomy and closed lists")
async def categories(principal: Caller) -> dict[str, Any]:
    return {
        "categories": domain.CATEGORIES,
        "kinds": domain.KINDS,
        "attachment_types": sorted(domain.ATTACHMENT_TYPES),
        "reasons": {
            "reject": domain.REJECT_REASONS,
            "return": domain.RETURN_REASONS,
            "suspend": domain.SUSPEND_REASONS,
            "extension": domain.EXTENSION_REASONS,
        },
        "outcomes": domain.OUTCOMES,
        # A revisit's two answers (transition ``revisit``: satisfaction and solved).
        "satisfaction": domain.SATISFACTION,
        "solved": domain.SOLVED,
        "transitions": {
            name: {
                "from": sorted(t.sources),
                "to": t.target or "(depends on the case)",
                "by": sorted(t.actors),
            }
            for name, t in domain.TRANSITIONS.items()
        },
    }


@router.post(
    "/cases",
    status_code=201,
    response_model=OpenedView,
    tags=["cases"],
    summary="Open a case (drivers for themselves, stations, dispatchers, care brokers)",
)
async def open_case(
    body: OpenCaseRequest,
    request: Request,
    principal: Caller,
    service: CasesDep,
    # Not common.requests.IdempotencyKey: this spelling is the published document's.
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    async def action() -> tuple[int, OpenedView]:
        intake = Intake(
            kind=body.kind,
            category=body.category,
            channel=body.channel,
            description=body.description,
            driver_id=body.driver_id,
            priority=body.priority,
            emergency=body.emergency,
            attachments=[a.model_dump() for a in body.attachments],
            respondent=body.respondent.model_dump() if body.respondent else None,
            identity_consent=body.identity_consent,
        )
        opened = await service.intake.open_case(principal, intake)
        shown = sees_duplicates(principal, body.driver_id, opened.broker_id)
        answer = OpenedView(
            case=view(principal, opened.case),
            duplicate_candidates=opened.duplicate_candidates if shown else [],
        )
        return 201, answer

    return await run_once(request, principal, idempotency_key, body, action)


@router.get("/cases", response_model=CasePage, tags=["cases"], summary="Cases the caller may see")
async def list_cases(
    principal: Caller,
    service: CasesDep,
    page: PageQuery,
    status: Annotated[str | None, Query(max_length=30)] = None,
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
    unit: Annotated[
        UnitFilter | None,
        Query(description="Only drivers of a grid, organisation or route grid (with unit_id)"),
    ] = None,
    unit_id: Annotated[str | None, Query(max_length=100)] = None,
    subtree: Annotated[
        bool, Query(description="A grid or organisation with every unit below it")
    ] = False,
) -> CasePage:
    if driver_id is not None or unit is not None or unit_id is not None:
        # Before the unit's drivers are read: a refused filter costs the store nothing.
        refuse_driver_filters(principal)
    after = page.after(AfterTime)
    drivers = None
    if unit is not None and unit_id:
        district = DistrictUnits(service.store.collection.database)
        drivers = await district.drivers_in(unit, unit_id, subtree=subtree)
    found = await service.lookup.page(
        principal,
        limit=page.limit,
        after=(after.at, after.id) if after else None,
        status=status,
        driver_id=driver_id,
        driver_ids=drivers,
    )
    last = found.last
    cursor = page.next(AfterTime(at=last.opened_at, id=last.id) if last else None)
    return CasePage(items=[view(principal, c) for c in found.items], next_cursor=cursor)


@router.get("/cases/{case_id}", response_model=CaseView, tags=["cases"], summary="One case")
async def get_case(case_id: str, principal: Caller, service: CasesDep) -> CaseView:
    return view(principal, await service.lookup.get(principal, case_id))
