"""Broadcasts: compose one to a segment with a live count of who it would reach, watch its
progress, and see the deliveries that failed (notify's API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console.apis import Api, ApiError, new_idempotency_key, quoted
from console.roles import Person
from console.web import CurrentPerson, PersonApi, check_csrf, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

CATEGORIES = ("general", "policy", "activity", "points", "road_closure", "severe_weather")
SEGMENTS = ("everyone", "fleet", "grid", "organisation", "grade")
Short = Annotated[str, Form(max_length=100)]
Long = Annotated[str, Form(max_length=2000)]


@router.get("/broadcasts")
async def broadcasts(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    return await _broadcasts(request, person, api)


async def _broadcasts(
    request: Request, person: Person, api: Api, error: str | None = None
) -> Response:
    """The broadcasts page; ``error`` is a refusal this console got, never a URL's text."""
    try:
        page = await api.get("notify", "/v1/broadcasts", limit=20)
        failures = await api.get("notify", "/v1/deliveries/failed", limit=20)
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(
        request,
        "broadcasts.html",
        person=person,
        items=page["items"],
        failures=failures["items"],
        categories=CATEGORIES,
        segments=SEGMENTS,
        form_key=new_idempotency_key(),
        error=error,
    )


def _segment(kind: str, value: str) -> dict[str, Any]:
    return {"kind": kind, **({"value": value} if value else {})}


@router.post("/broadcasts/audience")
async def audience(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    category: Annotated[str, Form(max_length=30)],
    segment: Annotated[str, Form(max_length=30)],
    segment_value: Short = "",
) -> Response:
    """The composer's live count (HTMX, as the segment fields change): how many drivers the
    broadcast would reach if sent now; nothing is sent."""
    if segment != "everyone" and not segment_value:
        return render(request, "audience.html", person=person, audience=None, needs_value=True)
    body = {"category": category, "segment": _segment(segment, segment_value)}
    try:
        found = await api.post("notify", "/v1/broadcasts/audience", body)
    except ApiError as exc:
        return render(request, "audience.html", person=person, audience=None, error=exc.detail)
    return render(request, "audience.html", person=person, audience=found)


def _content(title_zh: str, body_zh: str, title_en: str, body_en: str) -> dict[str, Any]:
    content = {"zh-CN": {"title": title_zh, "body": body_zh}}
    if title_en and body_en:
        content["en"] = {"title": title_en, "body": body_en}
    return content


@router.post("/broadcasts")
async def send(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    category: Annotated[str, Form(max_length=30)],
    segment: Annotated[str, Form(max_length=30)],
    title_zh: Short,
    body_zh: Long,
    key: Annotated[str, Form(pattern=r"^[0-9a-f]{32}$")],
    segment_value: Short = "",
    title_en: Short = "",
    body_en: Long = "",
) -> Response:
    body = {
        "category": category,
        "segment": _segment(segment, segment_value),
        "content": _content(title_zh, body_zh, title_en, body_en),
    }
    try:
        made = await api.post("notify", "/v1/broadcasts", body, idempotency_key=key)
    except ApiError as exc:
        return await _broadcasts(request, person, api, error=exc.detail)
    return redirect(f"/broadcasts/{quoted(made['broadcast_id'])}")


@router.get("/broadcasts/{broadcast_id}")
async def broadcast(
    request: Request, person: CurrentPerson, api: PersonApi, broadcast_id: str
) -> Response:
    """The page polls its progress part every two seconds while the broadcast is in flight."""
    try:
        found = await api.get("notify", f"/v1/broadcasts/{quoted(broadcast_id)}")
        failures = await api.get(
            "notify", "/v1/deliveries/failed", broadcast_id=broadcast_id, limit=50
        )
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    return render(request, "broadcast.html", person=person, b=found, failures=failures["items"])
