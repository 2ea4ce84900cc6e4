"""Cases: the queue by nearest deadline and a case page offering only the person's transitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response

from console.apis import Api, ApiError, quoted
from console.clocks import OPEN_STATUSES, clock_state, nearest_due
from console.roles import Person
from console.web import CurrentPerson, PersonApi, check_csrf, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

ACTION_PATTERN = r"^[a-z_]{1,40}$"
Optional = Annotated[str, Form(max_length=5000)]


async def state_table(api: Api) -> dict[str, Any]:
    """The cases service's own list of transitions and closed lists (GET /v1/categories)."""
    table: dict[str, Any] = await api.get("cases", "/v1/categories")
    return table


def units_of(case: dict[str, Any]) -> list[str]:
    """The units a case is offered to or led by (the view names them in three fields)."""
    named = [*(case.get("offered_unit_ids") or []), case.get("lead_unit_id"), case.get("unit_id")]
    return list(dict.fromkeys(unit for unit in named if unit))


def offered(person: Person, case: dict[str, Any], transitions: dict[str, Any]) -> list[str]:
    """Transitions from the case's status that one of the person's actors may make.

    A handler acts only on cases dispatched to their unit (the service checks it too)."""
    actors = set(person.case_actors)
    if "handler" in actors and person.principal.unit_id not in units_of(case):
        actors.discard("handler")
    return [
        name
        for name, t in transitions.items()
        if case["status"] in t["from"] and actors & set(t["by"])
    ]


@router.get("/cases")
async def queue(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    try:
        page = await api.get("cases", "/v1/cases", limit=200)
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    now = datetime.now(UTC)
    open_cases = [case for case in page["items"] if case["status"] in OPEN_STATUSES]
    unit = request.query_params.get("unit", "")
    category = request.query_params.get("category", "")
    clock = request.query_params.get("clock", "")  # the home page's bars link here
    rows = [
        {**case, "nearest_due": nearest_due(case), "clock_state": clock_state(case, now)}
        for case in open_cases
        if (not unit or unit in units_of(case)) and (not category or case["category"] == category)
    ]
    rows = [row for row in rows if not clock or row["clock_state"] == clock]
    rows.sort(key=lambda row: datetime.fromisoformat(row["nearest_due"]))
    return render(
        request,
        "cases.html",
        person=person,
        rows=rows,
        units=sorted({u for case in open_cases for u in units_of(case)}),
        categories=sorted({case["category"] for case in open_cases}),
        chosen={"unit": unit, "category": category, "clock": clock},
    )


@router.get("/cases/{case_id}")
async def case_page(
    request: Request, person: CurrentPerson, api: PersonApi, case_id: str
) -> Response:
    return await _case_page(request, person, api, case_id)


async def _case_page(
    request: Request, person: Person, api: Api, case_id: str, error: str | None = None
) -> Response:
    """The case's page; ``error`` is a refusal this console got, never a URL's text."""
    try:
        case = await api.get("cases", f"/v1/cases/{quoted(case_id)}")
        table = await state_table(api)
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(
        request,
        "case.html",
        person=person,
        case=case,
        actions=offered(person, case, table["transitions"]),
        units=units_of(case),
        table=table,
        error=error,
    )


def _action_body(action: str, form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: v for k, v in form.items() if v and k in ("note", "outcome")}
    if form.get("reason_code"):
        body["reason_code"] = form["reason_code"]
    if action in ("dispatch", "transfer") and form.get("unit_ids"):
        body["unit_ids"] = form["unit_ids"].split()
    if action == "revisit":  # the two closed answers (GET /v1/categories names them)
        body.update({k: form[k] for k in ("satisfaction", "solved") if form.get(k)})
    return body


@router.post("/cases/{case_id}/act/{action}")
async def act(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    case_id: str,
    action: Annotated[str, Path(pattern=ACTION_PATTERN)],
    note: Optional = "",
    outcome: Annotated[str, Form(max_length=30)] = "",
    reason_code: Annotated[str, Form(max_length=50)] = "",
    unit_ids: Annotated[str, Form(max_length=300)] = "",
    satisfaction: Annotated[str, Form(max_length=30)] = "",
    solved: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    form = {
        "note": note,
        "outcome": outcome,
        "reason_code": reason_code,
        "unit_ids": unit_ids,
        "satisfaction": satisfaction,
        "solved": solved,
    }
    try:
        await api.post(
            "cases",
            f"/v1/cases/{quoted(case_id)}/transitions/{quoted(action)}",
            _action_body(action, form),
        )
    except ApiError as exc:
        return await _case_page(request, person, api, case_id, error=exc.detail)
    return redirect(f"/cases/{quoted(case_id)}")
