"""Partners: their accounts (allowed event types, state, webhook) and the records of theirs that
a consumer dead-lettered (rejections), for operators with partners:manage. The partners service
decides; a person without the scope gets its 403."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.apis import ApiError, quoted
from console.web import CurrentPerson, PersonApi, render

router = APIRouter(include_in_schema=False)

PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@router.get("/partners")
async def partners(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    try:
        page = await api.get("partners", "/v1/partners", limit=200)
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(request, "partners.html", person=person, partners=page["items"])


@router.get("/partners/{partner_id}")
async def partner(
    request: Request, person: CurrentPerson, api: PersonApi, partner_id: str
) -> Response:
    if not PARTNER_ID.match(partner_id):
        return render(request, "error.html", status=404, person=person, error="no such partner")
    cursor = request.query_params.get("cursor") or None
    try:
        account = await api.get("partners", f"/v1/partners/{quoted(partner_id)}")
        rejections = await api.get(
            "partners", f"/v1/partners/{quoted(partner_id)}/rejections", limit=50, cursor=cursor
        )
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(
        request,
        "partner.html",
        person=person,
        partner=account,
        rejections=rejections["items"],
        next_cursor=rejections.get("next_cursor"),
    )
