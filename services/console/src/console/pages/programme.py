"""The programme's other lists: census campaigns with progress (registry), the mall's rewards and
the monthly leaderboards (points), notification templates previewed in both languages (notify),
and the cases' published figures (cases); stations have their own module. Read-only
pages; each needs the scope its service checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.apis import ApiError, quoted
from console.i18n import LANGUAGES
from console.web import CurrentPerson, PersonApi, render

router = APIRouter(include_in_schema=False)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
EVENT_TYPE = re.compile(r"^[a-z0-9_.]{1,100}$")


@router.get("/census")
async def census(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    try:
        page = await api.get("registry", "/v1/census/campaigns", limit=20)
        campaigns = [
            await api.get("registry", f"/v1/census/campaigns/{quoted(c['campaign_id'])}")
            for c in page["items"][:5]
        ]
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(request, "census.html", person=person, campaigns=campaigns)


@router.get("/mall")
async def mall(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    """Rewards with their stock, reservations waiting at the counters, the earning rules in
    force, and a month's leaderboard of a fleet or grid when asked."""
    month = request.query_params.get("month") or datetime.now(UTC).strftime("%Y-%m")
    kind = "grid" if request.query_params.get("kind") == "grid" else "fleet"
    unit = request.query_params.get("unit", "").strip()
    board: Any = None
    try:
        rewards = await api.get("points", "/v1/rewards", limit=100, include_inactive=True)
        reservations = await api.get("points", "/v1/redemptions", state="reserved", limit=50)
        rules = await api.get("points", "/v1/rules")
        if unit and MONTH.match(month):
            board = await api.get("points", "/v1/leaderboards", month=month, **{kind: unit})
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    query = {"month": month, "kind": kind, "unit": unit}
    return render(
        request,
        "mall.html",
        person=person,
        rewards=rewards,
        reservations=reservations["items"],
        rules=rules,
        board=board,
        query=query,
    )


@router.get("/templates")
async def templates(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    try:
        found = await api.get("notify", "/v1/templates")
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    event_types = sorted({t["event_type"] for t in found})
    return render(request, "templates.html", person=person, event_types=event_types)


@router.get("/templates/{event_type}")
async def template_preview(
    request: Request, person: CurrentPerson, api: PersonApi, event_type: str
) -> Response:
    """The saved template of an event type rendered with sample values, in both languages."""
    if not EVENT_TYPE.match(event_type):
        return render(request, "error.html", status=404, person=person, error="no such template")
    previews = {}
    for language in LANGUAGES:
        path = f"/v1/templates/{quoted(event_type)}/{quoted(language)}/preview"
        try:
            previews[language] = await api.post("notify", path, {})
        except ApiError as exc:
            previews[language] = {"title": "", "body": exc.detail}
    return render(request, "template.html", person=person, event_type=event_type, previews=previews)


def published(row: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A figures row's rates (each with numerator, denominator and cohort), by name."""
    return [(k, v) for k, v in row.items() if isinstance(v, dict) and "numerator" in v]


@router.get("/figures")
async def figures(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    month = request.query_params.get("month") or datetime.now(UTC).strftime("%Y-%m")
    if not MONTH.match(month):
        month = datetime.now(UTC).strftime("%Y-%m")
    try:
        found = await api.get("cases", "/v1/figures", month=month)
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    rows = [(row, published(row)) for row in found.get("rows", [])]
    return render(request, "figures.html", person=person, month=month, rows=rows)
