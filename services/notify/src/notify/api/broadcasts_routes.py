"""HTTP for broadcasts (operators): create (retry-safe), list, progress, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.pagination import PageParams
from common.requests import IdempotencyKey, run_once
from notify.api.dependencies import Broadcaster, NotifyDep, newest_cursor
from notify.api.errors import conflict, not_found, unprocessable
from notify.api.schemas import BroadcastPage, BroadcastRequest, BroadcastView
from notify.domain import Conflict, InvalidBroadcast, NotFound

router = APIRouter(prefix="/v1", tags=["broadcasts"])


@router.post(
    "/broadcasts",
    status_code=201,
    response_model=BroadcastView,
    summary="Send a message to a segment of drivers, now or at a time (Idempotency-Key)",
)
async def create_broadcast(
    body: BroadcastRequest,
    request: Request,
    principal: Broadcaster,
    notify: NotifyDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[int, BaseModel]:
        try:
            broadcast = await notify.broadcasts.create_broadcast(
                category=body.category,
                urgency=body.urgency,
                segment=body.segment,
                content=dict(body.content),
                scheduled_at=body.scheduled_at,
                expires_at=body.expires_at,
                by=principal.sub,
            )
        except InvalidBroadcast as exc:
            raise unprocessable(exc.message, "urgency") from exc
        return 201, BroadcastView.of(broadcast)

    return await run_once(request, principal, idempotency_key, body, create)


@router.get("/broadcasts", response_model=BroadcastPage, summary="Newest first")
async def list_broadcasts(
    principal: Broadcaster, notify: NotifyDep, page: Annotated[PageParams, Depends()]
) -> BroadcastPage:
    found = await notify.broadcasts.newest(page.after, page.limit + 1)
    more = len(found) > page.limit
    found = found[: page.limit]
    last = found[-1] if more and found else None
    return BroadcastPage(
        items=[BroadcastView.of(b) for b in found],
        next_cursor=newest_cursor(last.created_at, last.broadcast_id) if last else None,
    )


@router.get(
    "/broadcasts/{broadcast_id}",
    response_model=BroadcastView,
    summary="A broadcast with its progress: targeted, delivered, failed, held",
)
async def get_broadcast(
    broadcast_id: str, principal: Broadcaster, notify: NotifyDep
) -> BroadcastView:
    try:
        broadcast, progress, batches_done = await notify.broadcasts.broadcast(broadcast_id)
    except NotFound as exc:
        raise not_found("broadcast") from exc
    return BroadcastView.of(broadcast, progress, batches_done)


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    response_model=BroadcastView,
    summary="Stop a broadcast; batches not yet fanned out are skipped",
)
async def cancel_broadcast(
    broadcast_id: str, principal: Broadcaster, notify: NotifyDep
) -> BroadcastView:
    try:
        return BroadcastView.of(await notify.broadcasts.cancel_broadcast(broadcast_id))
    except NotFound as exc:
        raise not_found("broadcast") from exc
    except Conflict as exc:
        raise conflict(str(exc)) from exc
