"""HTTP for partners' webhook subscriptions (operators see and remove all of them)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from notify.api.dependencies import NotifyDep, Partner, PartnerOrOperator, partner_scope
from notify.api.schemas import WebhookRequest, WebhookView
from notify.domain import NotFound

router = APIRouter(prefix="/v1", tags=["webhooks"])


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookView,
    summary="Subscribe a partner endpoint; the signing secret is shown once",
)
async def subscribe(body: WebhookRequest, principal: Partner, notify: NotifyDep) -> WebhookView:
    partner_id = partner_scope(principal) or ""  # a partner token: never the operators' None
    doc, secret = await notify.webhooks.subscribe(
        partner_id, body.url, list(body.categories), body.fleet
    )
    return WebhookView.of(doc, secret)


@router.get("/webhooks", response_model=list[WebhookView], summary="Subscriptions")
async def list_webhooks(principal: PartnerOrOperator, notify: NotifyDep) -> list[WebhookView]:
    docs = await notify.webhooks.subscriptions(partner_scope(principal))
    return [WebhookView.of(d) for d in docs]


@router.delete("/webhooks/{subscription_id}", status_code=204, summary="Unsubscribe")
async def unsubscribe(
    subscription_id: str, principal: PartnerOrOperator, notify: NotifyDep
) -> Response:
    if not await notify.webhooks.unsubscribe(subscription_id, partner_scope(principal)):
        raise NotFound("subscription")
    return Response(status_code=204)
