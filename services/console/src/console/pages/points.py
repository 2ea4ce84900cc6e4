"""Points: a driver's account and ledger (each entry with its cause) and manual adjustments;
large ones wait for a second person (points' four-eyes queue), who approves them here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response

from console.apis import Api, ApiError, new_idempotency_key, quoted
from console.roles import Person
from console.web import CurrentPerson, PersonApi, check_csrf, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

KEY_PATTERN = r"^[0-9a-f]{32}$"
ADJUSTMENT = "adjustment"  # the points service's four-eyes area for manual adjustments


@router.get("/drivers/{driver_id}/points")
async def ledger(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    driver_id: str,
    cursor: str | None = None,
    notice: str | None = None,
) -> Response:
    return await _ledger(request, person, api, driver_id, cursor=cursor, notice=notice)


async def _ledger(
    request: Request,
    person: Person,
    api: Api,
    driver_id: str,
    *,
    cursor: str | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    """The driver's points page; ``error`` is a refusal this console got, never a URL's text."""
    try:
        account = await api.get("points", f"/v1/accounts/{quoted(driver_id)}")
        entries = await api.get(
            "points", f"/v1/accounts/{quoted(driver_id)}/ledger", limit=50, cursor=cursor
        )
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(
        request,
        "points.html",
        person=person,
        driver_id=driver_id,
        account=account,
        entries=entries,
        # One key per rendered form: submitting the same form twice adjusts once.
        form_key=new_idempotency_key(),
        pending=await pending_adjustments(api, person, driver_id),
        error=error,
        waiting=notice == "waiting",
    )


async def pending_adjustments(api: Api, person: Person, driver_id: str) -> list[dict[str, Any]]:
    """Adjustments of this driver waiting for a second person (points' four-eyes queue)."""
    if not person.may_any("points:adjust", "points:approve"):
        return []
    page = await api.maybe("points", "/v1/approvals", area=ADJUSTMENT, state="pending", limit=200)
    return [a for a in (page or {}).get("items", []) if a.get("subject") == driver_id]


@router.post("/drivers/{driver_id}/points/adjustments")
async def adjust(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    driver_id: str,
    amount: Annotated[int, Form(ge=-100_000, le=100_000)],
    reason: Annotated[str, Form(min_length=1, max_length=500)],
    key: Annotated[str, Form(pattern=KEY_PATTERN)],
    sanction: Annotated[bool, Form()] = False,
) -> Response:
    body = {"amount": amount, "reason": reason, "sanction": sanction}
    path = f"/v1/accounts/{quoted(driver_id)}/adjustments"
    try:
        answer = await api.post("points", path, body, idempotency_key=key)
    except ApiError as exc:
        return await _ledger(request, person, api, driver_id, error=exc.detail)
    # A large adjustment answers with the pending request: nothing has moved yet.
    waiting = isinstance(answer, dict) and "approval_id" in answer
    return redirect(f"/drivers/{quoted(driver_id)}/points" + ("?notice=waiting" if waiting else ""))


@router.post("/drivers/{driver_id}/points/approvals/{approval_id}/{decision}")
async def decide(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    driver_id: str,
    approval_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,200}$")],
    decision: Annotated[str, Path(pattern=r"^(approve|refuse)$")],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A second person approves (the adjustment runs once) or refuses (nothing runs)."""
    body = {"reason": note or "-"} if decision == "refuse" else ({"note": note} if note else {})
    try:
        await api.post("points", f"/v1/approvals/{quoted(approval_id)}/{quoted(decision)}", body)
    except ApiError as exc:
        return await _ledger(request, person, api, driver_id, error=exc.detail)
    return redirect(f"/drivers/{quoted(driver_id)}/points")
