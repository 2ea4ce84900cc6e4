"""Operators manage partner accounts; every change is announced on partners.events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from common.pagination import AfterId, PageParams
from common.problems import Problem
from common.webhook_targets import UnsafeTarget
from partners.api.dependencies import IdempotencyKey, PartnerAdmin, PartnersDep, run_once
from partners.api.schemas import (
    PartnerIdField,
    PartnerIn,
    PartnerPage,
    PartnerPatch,
    PartnerView,
    SuspendIn,
    WebhookIn,
    WebhookView,
)

router = APIRouter(prefix="/v1/partners", tags=["partner accounts"])
PartnerIdPath = Annotated[PartnerIdField, Path()]


@router.get("", summary="List partner accounts")
async def list_partners(
    partners: PartnersDep, _: PartnerAdmin, page: Annotated[PageParams, Depends()]
) -> PartnerPage:
    after = page.after(AfterId)
    found = await partners.accounts.page(after.id if after else None, page.limit)
    cursor = page.next_if_full(len(found), AfterId(id=found[-1].partner_id) if found else None)
    return PartnerPage(items=[PartnerView.of(p) for p in found], next_cursor=cursor)


@router.post(
    "",
    status_code=201,
    summary="Register a partner (creates its topic; announced as partner.registered.v1)",
    responses={201: {"model": PartnerView}},
)
async def register_partner(
    body: PartnerIn,
    request: Request,
    partners: PartnersDep,
    principal: PartnerAdmin,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def action() -> tuple[int, PartnerView]:
        partner = await partners.accounts.register(
            body.partner_id,
            body.name,
            list(body.allowed_types),
            contact=body.contact,
            quotas=body.quotas.quotas() if body.quotas else None,
        )
        return 201, PartnerView.of(partner)

    return await run_once(request, principal, idempotency_key, body, action)


@router.get("/{partner_id}", summary="One partner account")
async def get_partner(
    partner_id: PartnerIdPath, partners: PartnersDep, _: PartnerAdmin
) -> PartnerView:
    return PartnerView.of(await partners.accounts.get(partner_id))


@router.patch("/{partner_id}", summary="Change a partner's name, types, contact or quotas")
async def update_partner(
    partner_id: PartnerIdPath, body: PartnerPatch, partners: PartnersDep, _: PartnerAdmin
) -> PartnerView:
    changes = body.model_dump(exclude_unset=True)
    partner = await partners.accounts.update(
        partner_id,
        name=body.name,
        allowed_types=list(body.allowed_types) if body.allowed_types is not None else None,
        quotas=body.quotas.quotas() if body.quotas is not None else None,
        **({"contact": body.contact} if "contact" in changes else {}),
    )
    return PartnerView.of(partner)


@router.post(
    "/{partner_id}/suspend",
    summary="Suspend a partner: refused by the gateway and by every consumer from now on",
)
async def suspend_partner(
    partner_id: PartnerIdPath, body: SuspendIn, partners: PartnersDep, _: PartnerAdmin
) -> PartnerView:
    return PartnerView.of(await partners.accounts.suspend(partner_id, body.reason))


@router.post("/{partner_id}/reinstate", summary="Lift a partner's suspension")
async def reinstate_partner(
    partner_id: PartnerIdPath, partners: PartnersDep, _: PartnerAdmin
) -> PartnerView:
    return PartnerView.of(await partners.accounts.reinstate(partner_id))


@router.put(
    "/{partner_id}/webhook",
    summary="Set the partner's webhook; answers a new signing secret, shown once",
)
async def set_webhook(
    partner_id: PartnerIdPath, body: WebhookIn, partners: PartnersDep, _: PartnerAdmin
) -> WebhookView:
    try:
        await partners.notices.client.policy.check(body.url)
    except UnsafeTarget as exc:
        raise Problem(422, "Unprocessable Content", f"webhook refused: {exc.reason}") from exc
    partner, secret = await partners.accounts.set_webhook(partner_id, body.url)
    return WebhookView(partner=PartnerView.of(partner), secret=secret)


@router.delete("/{partner_id}/webhook", summary="Remove the partner's webhook")
async def remove_webhook(
    partner_id: PartnerIdPath, partners: PartnersDep, _: PartnerAdmin
) -> PartnerView:
    partner, _secret = await partners.accounts.set_webhook(partner_id, None)
    return PartnerView.of(partner)
