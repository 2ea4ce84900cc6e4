"""HTTP for deliveries: one notification's tracking and the SMS gateway's receipts."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from common.problems import Problem
from notify.api.dependencies import Driverish, NotifyDep
from notify.api.schemas import NotificationView, SmsReceipt
from notify.domain import NotFound
from notify.settings import NotifySettings

router = APIRouter(prefix="/v1", tags=["deliveries"])


@router.get(
    "/notifications/{notification_id}",
    response_model=NotificationView,
    summary="Delivery tracking of one notification on one channel",
)
async def notification(
    notification_id: str, principal: Driverish, notify: NotifyDep
) -> NotificationView:
    doc = await notify.inbox.notification(notification_id)
    if principal.role == "driver" and doc["driver_id"] != principal.driver_id:
        # A broadcast's notification id names its driver: another driver's must answer exactly
        # as a missing one, or the id tells whether that driver was in the broadcast.
        raise NotFound("notification", notification_id)
    return NotificationView.of(doc)


@router.post(
    "/sms/receipts",
    status_code=204,
    summary="Delivery receipts from the SMS gateway (authenticated by its API key)",
)
async def sms_receipt(
    body: SmsReceipt,
    request: Request,
    notify: NotifyDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    settings: NotifySettings = request.app.state.settings
    expected = settings.sms_api_key.get_secret_value() if settings.sms_api_key else None
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Problem(401, "Unauthorized", "the gateway key is required")
    if not await notify.delivery.sms_receipt(body.out_id, body.status == "DELIVERED", body.error):
        raise NotFound("SMS notification")
    return Response(status_code=204)
