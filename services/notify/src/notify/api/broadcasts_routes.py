"""HTTP for broadcasts (operators): create (retry-safe), list, progress, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from common.approvals import Approvals, Proposal
from common.approvals_api import ACCEPTED, propose
from common.pagination import PageQuery
from common.requests import IdempotencyKey, run_once
from notify.api.dependencies import Broadcaster, NotifyDep, newest_after, newest_cursor
from notify.api.schemas import BroadcastPage, BroadcastRequest, BroadcastView
from notify.domain import check_broadcast, is_urgent
from notify.four_eyes import URGENT_BROADCAST, create_requested

router = APIRouter(prefix="/v1", tags=["broadcasts"])


@router.post(
    "/broadcasts",
    status_code=201,
    response_model=BroadcastView,
    summary="Send a message to a segment of drivers, now or at a time (Idempotency-Key)",
    description="An urgent category (road_closure, severe_weather, safety_recall: it overrides "
    "quiet hours) answers 202 with a pending approval request; the broadcast is made once a "
    "second person with notify:urgent approves it at /v1/approvals/{approval_id}/approve.",
    responses=ACCEPTED,
)
async def create_broadcast(
    body: BroadcastRequest,
    request: Request,
    principal: Broadcaster,
    notify: NotifyDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if is_urgent(body.category):
        # Refuse a broadcast that could never be made now, not when the checker approves it.
        when = body.scheduled_at or notify.broadcasts.now()
        check_broadcast(body.category, body.urgency, dict(body.content), when, body.expires_at)
        approvals: Approvals = request.app.state.approvals
        proposal = Proposal(
            area=URGENT_BROADCAST,
            command=body.model_dump(mode="json"),
            reason=f"urgent {body.category} broadcast",
            summary=f"urgent {body.category} broadcast to {body.segment.kind}",
            request_key=idempotency_key,
        )
        return await propose(approvals, proposal, principal)

    async def create() -> tuple[int, BaseModel]:
        broadcast = await create_requested(notify.broadcasts, body, by=principal.actor)
        return 201, BroadcastView.of(broadcast)

    return await run_once(request, principal, idempotency_key, body, create)


@router.get("/broadcasts", response_model=BroadcastPage, summary="Newest first")
async def list_broadcasts(
    principal: Broadcaster, notify: NotifyDep, page: PageQuery
) -> BroadcastPage:
    found = await notify.broadcasts.newest(newest_after(page), page.limit + 1)
    more = len(found) > page.limit
    found = found[: page.limit]
    last = found[-1] if more and found else None
    return BroadcastPage(
        items=[BroadcastView.of(b) for b in found],
        next_cursor=newest_cursor(page, last.created_at, last.broadcast_id) if last else None,
    )


@router.get(
    "/broadcasts/{broadcast_id}",
    response_model=BroadcastView,
    summary="A broadcast with its progress: targeted, delivered, failed, held",
)
async def get_broadcast(
    broadcast_id: str, principal: Broadcaster, notify: NotifyDep
) -> BroadcastView:
    broadcast, progress, batches_done = await notify.broadcasts.broadcast(broadcast_id)
    return BroadcastView.of(broadcast, progress, batches_done)


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    response_model=BroadcastView,
    summary="Stop a broadcast; batches not yet fanned out are skipped",
)
async def cancel_broadcast(
    broadcast_id: str, principal: Broadcaster, notify: NotifyDep
) -> BroadcastView:
    return BroadcastView.of(await notify.broadcasts.cancel_broadcast(broadcast_id))
