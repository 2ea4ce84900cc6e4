"""Earning rules and the simulator: the rules in force, and what an event would earn a driver
now and why (points' ``POST /v1/rules/simulate``, which writes nothing)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from common.settings import DISTRICT_TIMEZONE
from console.apis import Api, ApiError
from console.web import CurrentPerson, PersonApi, check_csrf, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

# A starting point for each earning type's data, and the field holding the event's own time
# (stations' and cases' events carry the driver and a time in their data; partners' default
# both to the envelope). The simulator fills the driver and that time in.
EXAMPLES: dict[str, tuple[dict[str, Any], str | None]] = {
    "volunteer.logged.v1": ({"activity": "港区道路清洁", "hours": 2}, None),
    "training.completed.v1": ({"course_id": "C-101", "course_name": "安全驾驶", "hours": 4}, None),
    "safety.milestone.v1": ({"milestone": "days_without_violation", "days": 100}, None),
    "port.appointment.kept.v1": (
        {"appointment_id": "A-889", "terminal": "BL2", "on_time": True},
        None,
    ),
    "service.used.v1": ({"station_id": "stn_1", "service_code": "rest"}, "used_at"),
    "activity.attended.v1": (
        {"station_id": "stn_1", "activity_id": "act_1", "activity_kind": "training"},
        "attended_at",
    ),
    "rest.taken.v1": (
        {"nudge_id": "nudge_1", "station_id": "stn_1", "checkin_id": "chk_1"},
        "rested_at",
    ),
    "honour.awarded.v1": (
        {
            "honour_id": "h_1",
            "category": "monthly_star",
            "period": "2026-12",
            "votes": 5,
            "panel_size": 7,
        },
        "announced_at",
    ),
}
Short = Annotated[str, Form(max_length=200)]


def example(event_type: str) -> str:
    data, _ = EXAMPLES.get(event_type, ({}, None))
    return json.dumps(data, ensure_ascii=False)


async def _page(
    request: Request, person: Any, api: Api, status: int = 200, **context: Any
) -> Response:
    try:
        rules = await api.get("points", "/v1/rules")
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    event_types = sorted({r["spec"]["event_type"] for r in rules})
    context.setdefault("event_type", event_types[0] if event_types else "")
    context.setdefault("data", example(context["event_type"]))
    return render(
        request,
        "rules.html",
        status=status,
        person=person,
        rules=rules,
        event_types=event_types,
        **context,
    )


@router.get("/rules")
async def rules(
    request: Request, person: CurrentPerson, api: PersonApi, driver_id: str = ""
) -> Response:
    return await _page(request, person, api, driver_id=driver_id[:200])


@router.get("/rules/example")
async def rule_example(request: Request, person: CurrentPerson, event_type: str = "") -> Response:
    """The data box for an event type (HTMX swaps it in when the type changes)."""
    return render(request, "rule_data.html", person=person, data=example(event_type[:100]))


def _event_time(occurred_at: str) -> datetime | None:
    """A wall-clock time typed in the district's zone, or None for now."""
    if not occurred_at:
        return None
    return datetime.fromisoformat(occurred_at).replace(tzinfo=ZoneInfo(DISTRICT_TIMEZONE))


@router.post("/rules/simulate")
async def simulate(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    event_type: Annotated[str, Form(max_length=100)],
    driver_id: Short,
    data: Annotated[str, Form(max_length=4000)],
    occurred_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    form: dict[str, Any] = {"event_type": event_type, "driver_id": driver_id, "data": data}
    try:
        parsed = json.loads(data or "{}")
        moment = _event_time(occurred_at)
    except ValueError:
        parsed, moment = None, None
    if not isinstance(parsed, dict):
        return await _page(request, person, api, status=422, bad_data=True, **form)
    _, time_field = EXAMPLES.get(event_type, ({}, None))
    if time_field is not None:  # stations' and cases' events name the driver and a time
        parsed.setdefault("driver_id", driver_id)
        parsed.setdefault(time_field, (moment or datetime.now(ZoneInfo("UTC"))).isoformat())
    body: dict[str, Any] = {"event_type": event_type, "driver_id": driver_id, "data": parsed}
    if moment is not None:
        body["occurred_at"] = moment.isoformat()
    try:
        result = await api.post("points", "/v1/rules/simulate", body)
    except ApiError as exc:
        return await _page(request, person, api, status=exc.status, error=exc.detail, **form)
    return await _page(request, person, api, result=result, occurred_at=occurred_at, **form)
