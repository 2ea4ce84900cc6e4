"""Drivers: search, a driver's page (masked), and revealing the phone with a reason (audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console.apis import Api, ApiError, quoted
from console.roles import Person
from console.web import CurrentPerson, PersonApi, check_csrf, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

PURPOSES = ("identity_check", "case_handling", "school_admission", "legal_request", "census")
FILTERS = ("plate", "name_prefix", "fleet_id", "grid_id")
Text = Annotated[str, Form(max_length=100)]


@router.get("/drivers")
async def search(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    query = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    results, error = None, None
    if any(query.values()):
        try:
            results = await api.get("registry", "/v1/drivers", limit=50, **query)
        except ApiError as exc:
            error = exc.detail
    return render(request, "drivers.html", person=person, query=query, results=results, error=error)


@router.post("/drivers/search")
async def search_by_phone(
    request: Request, person: CurrentPerson, api: PersonApi, phone: Text
) -> Response:
    """A phone number goes in a POST body to the registry, never into a URL or a log."""
    results, error = None, None
    try:
        results = await api.post("registry", "/v1/drivers/search", {"phone": phone, "limit": 50})
    except ApiError as exc:
        error = exc.detail
    query = dict.fromkeys(FILTERS, "")
    return render(request, "drivers.html", person=person, query=query, results=results, error=error)


async def driver_extras(api: Api, person: Person, driver_id: str) -> dict[str, Any]:
    """What else the driver page shows, each part only for the scopes that read it."""
    extras: dict[str, Any] = {
        "vehicles": await api.maybe("registry", f"/v1/drivers/{quoted(driver_id)}/vehicles"),
        "consents": await api.maybe("registry", f"/v1/drivers/{quoted(driver_id)}/consents"),
        "family": await api.maybe("registry", f"/v1/drivers/{quoted(driver_id)}/family"),
        "inbox": await api.maybe("notify", f"/v1/drivers/{quoted(driver_id)}/inbox", limit=10),
    }
    if person.sees_points:
        extras["account"] = await api.maybe("points", f"/v1/accounts/{quoted(driver_id)}")
    if person.sees_cases:
        extras["cases"] = await api.maybe("cases", "/v1/cases", driver_id=driver_id, limit=20)
    if person.sees_audit:
        extras["audit"] = await api.maybe("registry", "/v1/pii-access", driver_id=driver_id)
    return extras


@router.get("/drivers/{driver_id}")
async def driver_page(
    request: Request, person: CurrentPerson, api: PersonApi, driver_id: str
) -> Response:
    try:
        driver = await api.get("registry", f"/v1/drivers/{quoted(driver_id)}")
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    extras = await driver_extras(api, person, driver_id)
    return render(request, "driver.html", person=person, driver=driver, purposes=PURPOSES, **extras)


@router.post("/drivers/{driver_id}/reveal")
async def reveal_phone(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    driver_id: str,
    purpose: Annotated[str, Form(max_length=40)],
    case_ref: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The registry reveals and audits; the value is shown once in the answer, never logged."""
    body: dict[str, Any] = {"field": "phone", "purpose": purpose}
    if case_ref:
        body["case_ref"] = case_ref
    value, error = None, None
    path = f"/v1/drivers/{quoted(driver_id)}/pii/reveal"
    try:
        value = (await api.post("registry", path, body))["value"]
    except ApiError as exc:
        error = exc.detail
    audit = None
    if person.sees_audit:
        audit = await api.maybe("registry", "/v1/pii-access", driver_id=driver_id)
    return render(
        request,
        "reveal.html",
        person=person,
        driver_id=driver_id,
        value=value,
        reveal_error=error,
        audit=audit,
        purposes=PURPOSES,
    )
