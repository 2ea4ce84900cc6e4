"""Partners' API keys: operators manage any partner's; a partner whose credential holds
``keys:manage`` manages its own while it is not suspended: it only rotates them
(``ApiKeys.rotate``), and never grants a key more scopes than it holds itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from common.auth import Principal
from common.authz import require_scope
from common.problems import Problem
from partners.api.dependencies import PartnersDep, active_account
from partners.api.schemas import ApiKeyIn, ApiKeyView, IssuedApiKeyView, PartnerIdField
from partners.api_keys import key_state
from partners.service import Partners

router = APIRouter(prefix="/v1/partners/{partner_id}/keys", tags=["partner API keys"])
PartnerIdPath = Annotated[PartnerIdField, Path()]
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
# Operators with keys:manage (security officers); a partner its own keys, checked below.
Manager = Annotated[Principal, Depends(require_scope("keys:manage", or_roles=("partner",)))]


async def _may_manage(principal: Principal, partner_id: str, partners: Partners) -> None:
    if principal.role == "operator":
        return
    if principal.partner_id != partner_id:
        raise Problem(404, "Not Found", "no such partner")  # not to say whose ids exist
    if not principal.has_scope("keys:manage"):
        raise Problem(403, "Forbidden", "the credential needs the scope keys:manage")
    await active_account(partners, partner_id)


@router.post(
    "",
    status_code=201,
    summary="Make an API key (shown once), optionally replacing an older key after an overlap",
    description=(
        "A partner (its own keys, `keys:manage`) only rotates: `replaces` names one of its "
        "working keys not yet replaced (else 403, or 409 for a key stopped or replaced already), "
        "and the new key ends no later than the key that makes it. 403 `partner_suspended` for "
        "a suspended partner."
    ),
)
async def issue_key(
    partner_id: PartnerIdPath, body: ApiKeyIn, partners: PartnersDep, principal: Manager
) -> IssuedApiKeyView:
    await _may_manage(principal, partner_id, partners)
    valid_for = timedelta(days=body.valid_days) if body.valid_days else None
    overlap = timedelta(hours=body.overlap_hours)
    if principal.role == "operator":
        key, doc = await partners.api_keys.issue(
            partner_id,
            list(body.scopes),
            created_by=principal.sub,
            valid_for=valid_for,
            replaces=body.replaces,
            overlap=overlap,
        )
    else:
        beyond = sorted(set(body.scopes) - principal.scopes)
        if beyond:
            raise Problem(403, "Forbidden", f"a key may not hold scopes its maker lacks: {beyond}")
        if body.replaces is None:
            raise Problem(
                403,
                "Forbidden",
                "a partner only rotates its keys: name the key this one replaces (replaces)",
            )
        key, doc = await partners.api_keys.rotate(
            principal,
            partner_id,
            list(body.scopes),
            replaces=body.replaces,
            valid_for=valid_for,
            overlap=overlap,
        )
    view = ApiKeyView.of(doc, key_state(doc, partners.api_keys.now()))
    return IssuedApiKeyView(**view.model_dump(), key=key)


@router.get("", summary="A partner's API keys (never their secrets)")
async def list_keys(
    partner_id: PartnerIdPath, partners: PartnersDep, principal: Manager
) -> list[ApiKeyView]:
    await _may_manage(principal, partner_id, partners)
    now = partners.api_keys.now()
    return [
        ApiKeyView.of(d, key_state(d, now)) for d in await partners.api_keys.of_partner(partner_id)
    ]


@router.post("/{key_id}/revoke", summary="Revoke an API key: it stops working at once")
async def revoke_key(
    partner_id: PartnerIdPath, key_id: KeyIdPath, partners: PartnersDep, principal: Manager
) -> ApiKeyView:
    await _may_manage(principal, partner_id, partners)
    doc = await partners.api_keys.revoke(partner_id, key_id)
    return ApiKeyView.of(doc, key_state(doc, partners.api_keys.now()))
