"""The business calendar over HTTP: which years are loaded, and loading a year's notice."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cases.calendars import LOAD_SCOPE, CalendarService
from cases.domain import CaseNotFound
from cases.holiday_notice import HolidayNotice
from common.auth import Principal, require_roles

router = APIRouter(prefix="/v1", tags=["calendar"])

Operator = Annotated[Principal, Depends(require_roles("operator"))]
Year = Annotated[int, Path(ge=2000, le=2100, description="The calendar year")]


async def _calendars(request: Request) -> CalendarService:
    calendars: CalendarService = request.app.state.calendars
    return calendars


Calendars = Annotated[CalendarService, Depends(_calendars)]


class CalendarYearRow(BaseModel):
    year: int
    origin: str = Field(
        description="`notice` (loaded by an operator or a notice file) or the package"
    )
    source: str
    version: int | None = None
    digest: str | None = None
    holidays: int | None = Field(default=None, description="Number of days off")
    makeup_workdays: int | None = None
    loaded_by: str | None = None
    loaded_at: datetime | None = None


class CalendarList(BaseModel):
    years: list[CalendarYearRow]
    next_year_missing: bool = Field(
        description="From 1 November: next year's notice is not loaded (deadlines into it are "
        "provisional)"
    )


class LoadAudit(BaseModel):
    version: int
    by: str
    at: datetime
    source: str
    digest: str
    previous_digest: str | None = None
    holidays_added: list[str]
    holidays_removed: list[str]
    makeup_added: list[str]
    makeup_removed: list[str]


class CalendarYearView(BaseModel):
    year: int
    source: str
    version: int
    digest: str
    holidays: list[dict[str, str]]
    makeup_workdays: list[str]
    loaded_by: str
    loaded_at: datetime
    history: list[LoadAudit] = Field(description="Every load: who, when, and what it changed")
    changed: bool | None = Field(
        default=None, description="On a load: false when the same notice was loaded already"
    )
    recounted: int | None = Field(
        default=None, description="On a load: cases whose deadlines were counted again now"
    )


def _view(doc: dict[str, Any], **extra: Any) -> CalendarYearView:
    fields = {k: v for k, v in doc.items() if k in CalendarYearView.model_fields}
    return CalendarYearView.model_validate({**fields, **extra})


@router.get("/calendars", response_model=CalendarList, summary="The years the calendar knows")
async def list_calendars(principal: Operator, calendars: Calendars) -> CalendarList:
    rows = await calendars.listing()
    return CalendarList(
        years=[CalendarYearRow.model_validate(r) for r in rows],
        next_year_missing=calendars.next_year_missing(calendars.clock()),
    )


@router.get(
    "/calendars/{year}",
    response_model=CalendarYearView,
    summary="A loaded year's notice with its audit trail",
)
async def get_calendar(year: Year, principal: Operator, calendars: Calendars) -> CalendarYearView:
    doc = await calendars.store.get(year)
    if doc is None:
        raise CaseNotFound(f"no notice loaded for {year}")
    return _view(doc)


@router.put(
    "/calendars/{year}",
    response_model=CalendarYearView,
    responses={201: {"model": CalendarYearView, "description": "The year's first load"}},
    summary=f"Load the State Council's holiday notice for a year (operators with {LOAD_SCOPE})",
)
async def load_calendar(
    year: Year, body: HolidayNotice, principal: Operator, calendars: Calendars
) -> JSONResponse:
    doc, changed = await calendars.load(principal, year, body)
    # Counting again here answers the operator with the effect; the scan rounds finish the rest.
    recounted = await calendars.recount_pending() if changed else 0
    view = _view(doc, changed=changed, recounted=recounted)
    status = 201 if changed and doc["version"] == 1 else 200
    return JSONResponse(view.model_dump(mode="json"), status_code=status)
