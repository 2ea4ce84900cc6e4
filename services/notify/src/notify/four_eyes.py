"""Four eyes in notify (``common.approvals``): an urgent broadcast (road closure, severe
weather, safety recall: it overrides every driver's quiet hours and goes out by SMS) is sent only
once a second person with ``notify:urgent`` approves it.

The broadcast's id derives from the approval id, so a run repeated after a crash finds the
broadcast already made instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.approvals import ApprovalRequest, Area, CommandRefused, ScopeChecker
from notify.api.schemas import BroadcastRequest
from notify.broadcasts import Broadcasts
from notify.domain import Broadcast, NotifyError

URGENT_BROADCAST = "urgent_broadcast"


def broadcast_id_of(approval_id: str) -> str:
    return f"brc_{approval_id.removeprefix('apr_')}"


async def create_requested(
    broadcasts: Broadcasts, body: BroadcastRequest, *, by: str, broadcast_id: str | None = None
) -> Broadcast:
    """The broadcast a request asks for: made at once by a broadcaster, or once approved."""
    return await broadcasts.create_broadcast(
        category=body.category,
        urgency=body.urgency,
        segment=body.segment,
        content=dict(body.content),
        scheduled_at=body.scheduled_at,
        expires_at=body.expires_at,
        by=by,
        broadcast_id=broadcast_id,
    )


def notify_areas(broadcasts: Broadcasts) -> list[Area]:
    async def send(request: ApprovalRequest) -> Mapping[str, Any]:
        body = BroadcastRequest.model_validate(request.command)
        try:
            broadcast = await create_requested(
                broadcasts,
                body,
                by=request.maker,
                broadcast_id=broadcast_id_of(request.approval_id),
            )
        except NotifyError as exc:
            raise CommandRefused(exc.message) from exc
        return {"broadcast_id": broadcast.broadcast_id, "status": broadcast.status}

    return [Area(URGENT_BROADCAST, ScopeChecker("notify:urgent"), send)]
