"""Home: today's figures, each from a service's API and only those the person may read."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from common.settings import DISTRICT_TIMEZONE
from console.apis import Api, Service
from console.clocks import OPEN_STATUSES, clock_state
from console.pages.operations import dlq_figures
from console.roles import Person
from console.web import CurrentPerson, PersonApi, render

router = APIRouter(include_in_schema=False)

# Counting drivers pages through the list; past this many the figure says "more than".
DRIVER_COUNT_PAGES = 5
PAGE = 200
# The points service's district-wide figures of today (district zone), by cause.
DAY_FIGURES = "/v1/figures/day"
IN_FLIGHT = frozenset({"scheduled", "resolving", "fanning_out"})
# A redemption whose points went back (or never left) is not points redeemed.
NOT_SPENT = frozenset({"failed", "cancelling", "cancelled", "expired"})


def start_of_today(now: datetime | None = None) -> datetime:
    """Midnight in the district's zone: 'today' is the staff's day, not UTC's."""
    zone = ZoneInfo(DISTRICT_TIMEZONE)
    local = (now or datetime.now(UTC)).astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def today_items(
    api: Api, service: Service, path: str, stamp: str, **params: Any
) -> tuple[list[dict[str, Any]], bool] | None:
    """(today's items, complete) of a newest-first list, paging until yesterday or a bound."""
    since, cursor = start_of_today(), None
    found: list[dict[str, Any]] = []
    for _ in range(DRIVER_COUNT_PAGES):
        page = await api.maybe(service, path, limit=PAGE, cursor=cursor, **params)
        if page is None:
            return None
        for item in page["items"]:
            if datetime.fromisoformat(item[stamp]) < since:
                return found, True
            found.append(item)
        cursor = page.get("next_cursor")
        if not cursor:
            return found, True
    return found, False


async def checkins_today(api: Api) -> tuple[int, bool] | None:
    """Counted check-ins (duplicates and refusals are not visits) since midnight."""
    items = await today_items(api, "stations", "/v1/checkins", "recorded_at", status="counted")
    return None if items is None else (len(items[0]), items[1])


async def redeemed_today(api: Api) -> tuple[int, int, bool] | None:
    """(points, redemptions, complete) redeemed in the mall since midnight."""
    items = await today_items(api, "points", "/v1/redemptions", "created_at")
    if items is None:
        return None
    spent = [r for r in items[0] if r["state"] not in NOT_SPENT]
    return sum(r["cost"] for r in spent), len(spent), items[1]


async def count_drivers(api: Api) -> tuple[int, bool] | None:
    """(count, complete): the registry has no total, so count its pages up to a bound."""
    total, cursor = 0, None
    for _ in range(DRIVER_COUNT_PAGES):
        page = await api.maybe("registry", "/v1/drivers", limit=PAGE, cursor=cursor)
        if page is None:
            return None
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total, True
    return total, False


async def cases_by_clock(api: Api) -> Counter[str] | None:
    page = await api.maybe("cases", "/v1/cases", limit=PAGE)
    if page is None:
        return None
    now = datetime.now(UTC)
    states: Counter[str] = Counter({"on_time": 0, "warned": 0, "breached": 0})
    for case in page["items"]:
        if case["status"] in OPEN_STATUSES:
            states[clock_state(case, now)] += 1
    return states


async def figures(api: Api, person: Person) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if person.sees_drivers:
        found["drivers"] = await count_drivers(api)
        found["checkins"] = await checkins_today(api)
    if person.sees_cases:
        found["cases"] = await cases_by_clock(api)
    if person.sees_notify:
        page = await api.maybe("notify", "/v1/broadcasts", limit=PAGE)
        found["broadcasts"] = (
            None if page is None else sum(b["status"] in IN_FLIGHT for b in page["items"])
        )
    if person.sees_points:
        found["redeemed"] = await redeemed_today(api)
        found["awarded"] = await api.maybe("points", DAY_FIGURES)
        found["grades"] = await api.maybe("points", "/v1/grades")
    if person.sees_dlq:
        found["dlq"] = await dlq_figures(api)
    return found


@router.get("/")
async def home(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    return render(request, "home.html", person=person, figures=await figures(api, person))


@router.get("/checkins")
async def checkins(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    """The list behind the home page's check-in figure: today's counted visits, newest first."""
    found = await today_items(api, "stations", "/v1/checkins", "recorded_at", status="counted")
    if found is None:
        # The stations service refused the person (or did not answer): say what is needed.
        return render(request, "error.html", status=403, person=person, error="drivers:read")
    return render(request, "checkins.html", person=person, items=found[0], complete=found[1])


@router.get("/points/today")
async def points_today(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    """The breakdown behind the home page's points-awarded figure: today's points by cause."""
    found = await api.maybe("points", DAY_FIGURES)
    if found is None:
        return render(request, "error.html", status=403, person=person, error="points:read")
    return render(request, "points_today.html", person=person, f=found)
