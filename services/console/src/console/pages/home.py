"""Home: today's figures, each from a service's API and only those the person may read."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.apis import Api
from console.clocks import OPEN_STATUSES, clock_state
from console.pages.operations import dlq_figures
from console.roles import Person
from console.web import CurrentPerson, PersonApi, render

router = APIRouter(include_in_schema=False)

# Counting drivers pages through the list; past this many the figure says "more than".
DRIVER_COUNT_PAGES = 5
PAGE = 200
IN_FLIGHT = frozenset({"scheduled", "resolving", "fanning_out"})


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
    if person.sees_cases:
        found["cases"] = await cases_by_clock(api)
    if person.sees_notify:
        page = await api.maybe("notify", "/v1/broadcasts", limit=PAGE)
        found["broadcasts"] = (
            None if page is None else sum(b["status"] in IN_FLIGHT for b in page["items"])
        )
    if person.sees_points:
        found["grades"] = await api.maybe("points", "/v1/grades")
    if person.sees_dlq:
        found["dlq"] = await dlq_figures(api)
    return found


@router.get("/")
async def home(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    return render(request, "home.html", person=person, figures=await figures(api, person))
