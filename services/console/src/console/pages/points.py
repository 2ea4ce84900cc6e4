"""Points: a driver's account and ledger (each entry with its cause) and manual adjustments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console.apis import ApiError, new_idempotency_key
from console.web import CurrentPerson, PersonApi, check_csrf, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

KEY_PATTERN = r"^[0-9a-f]{32}$"


@router.get("/drivers/{driver_id}/points")
async def ledger(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    driver_id: str,
    cursor: str | None = None,
    error: str | None = None,
) -> Response:
    try:
        account = await api.get("points", f"/v1/accounts/{driver_id}")
        entries = await api.get(
            "points", f"/v1/accounts/{driver_id}/ledger", limit=50, cursor=cursor
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
        error=error,
    )


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
    try:
        await api.post("points", f"/v1/accounts/{driver_id}/adjustments", body, idempotency_key=key)
    except ApiError as exc:
        return await ledger(request, person, api, driver_id, error=exc.detail)
    return redirect(f"/drivers/{driver_id}/points")
