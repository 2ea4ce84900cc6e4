"""Operators manage partner accounts; every change is announced on partners.events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from common.approvals import Approvals, Proposal
from common.approvals_api import ACCEPTED, propose
from common.auth import Principal
from common.pagination import AfterId, PageQuery
from common.problems import Problem
from common.webhook_targets import UnsafeTarget
from partners.api.dependencies import IdempotencyKey, PartnerAdmin, PartnersDep
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
from partners.domain import PartnerExists
from partners.four_eyes import PARTNER_ACCOUNT

router = APIRouter(prefix="/v1/partners", tags=["partner accounts"])
PartnerIdPath = Annotated[PartnerIdField, Path()]
_SECOND_PERSON = (
    " Answers 202 with a pending approval request: it takes effect once a second person with "
    "partners:manage approves it at /v1/approvals/{approval_id}/approve (four eyes)."
)


async def _propose(
    request: Request, principal: Principal, partner_id: str, command: dict[str, Any], why: str
) -> JSONResponse:
    approvals: Approvals = request.app.state.approvals
    proposal = Proposal(
        area=PARTNER_ACCOUNT,
        command={"partner_id": partner_id, **command},
        reason=why,
        summary=f"{command['action']} partner {partner_id}",
        subject=partner_id,
        request_key=request.headers.get("Idempotency-Key"),
    )
    return await propose(approvals, proposal, principal)


@router.get("", summary="List partner accounts")
async def list_partners(partners: PartnersDep, _: PartnerAdmin, page: PageQuery) -> PartnerPage:
    after = page.after(AfterId)
    found = await partners.accounts.page(after.id if after else None, page.limit)
    cursor = page.next_if_full(len(found), AfterId(id=found[-1].partner_id) if found else None)
    return PartnerPage(items=[PartnerView.of(p) for p in found], next_cursor=cursor)


@router.post(
    "",
    status_code=202,
    response_model=None,
    summary="Register a partner (creates its topic; announced as partner.registered.v1)",
    description="A partner id already taken answers 409." + _SECOND_PERSON,
    responses=ACCEPTED,
)
async def register_partner(
    body: PartnerIn,
    request: Request,
    partners: PartnersDep,
    principal: PartnerAdmin,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if await partners.accounts.store.get(body.partner_id) is not None:
        raise PartnerExists(body.partner_id)
    command = {"action": "register", "partner": body.model_dump(mode="json", exclude_unset=True)}
    return await _propose(request, principal, body.partner_id, command, f"register {body.name}")


@router.get("/{partner_id}", summary="One partner account")
async def get_partner(
    partner_id: PartnerIdPath, partners: PartnersDep, _: PartnerAdmin
) -> PartnerView:
    return PartnerView.of(await partners.accounts.get(partner_id))


@router.patch(
    "/{partner_id}",
    response_model=PartnerView,
    summary="Change a partner's name, types, contact or quotas",
    description="A change of allowed_types (what the partner may send: its scope on the bus) "
    "waits for a second person." + _SECOND_PERSON,
    responses=ACCEPTED,
)
async def update_partner(
    partner_id: PartnerIdPath,
    body: PartnerPatch,
    request: Request,
    partners: PartnersDep,
    principal: PartnerAdmin,
) -> PartnerView | JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    current = await partners.accounts.get(partner_id)
    if body.allowed_types is not None and set(body.allowed_types) != set(current.allowed_types):
        patch = body.model_dump(mode="json", exclude_unset=True)
        command = {"action": "update", "patch": patch}
        return await _propose(request, principal, partner_id, command, "change allowed types")
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
    status_code=202,
    response_model=None,
    summary="Suspend a partner: refused by the gateway and by every consumer once approved",
    description=_SECOND_PERSON.strip(),
    responses=ACCEPTED,
)
async def suspend_partner(
    partner_id: PartnerIdPath,
    body: SuspendIn,
    request: Request,
    partners: PartnersDep,
    principal: PartnerAdmin,
) -> JSONResponse:
    await partners.accounts.get(partner_id)
    command = {"action": "suspend", "reason": body.reason}
    return await _propose(request, principal, partner_id, command, body.reason)


@router.post(
    "/{partner_id}/reinstate",
    status_code=202,
    response_model=None,
    summary="Lift a partner's suspension once approved",
    description=_SECOND_PERSON.strip(),
    responses=ACCEPTED,
)
async def reinstate_partner(
    partner_id: PartnerIdPath, request: Request, partners: PartnersDep, principal: PartnerAdmin
) -> JSONResponse:
    await partners.accounts.get(partner_id)
    return await _propose(request, principal, partner_id, {"action": "reinstate"}, "reinstate")


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
