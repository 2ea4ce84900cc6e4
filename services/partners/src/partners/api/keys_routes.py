"""Partners' API keys: operators manage any partner's; a partner whose credential holds
``keys:manage`` manages its own, and never grants a key more scopes than it holds itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from common.auth import Principal
from common.authz import require_scope
from common.problems import Problem
from partners.api.dependencies import PartnersDep
from partners.api.schemas import ApiKeyIn, ApiKeyView, IssuedApiKeyView, PartnerIdField
from partners.api_keys import key_state

router = APIRouter(prefix="/v1/partners/{partner_id}/keys", tags=["partner API keys"])
PartnerIdPath = Annotated[PartnerIdField, Path()]
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
# Operators with keys:manage (security officers); a partner its own keys, checked below.
Manager = Annotated[Principal, Depends(require_scope("keys:manage", or_roles=("partner",)))]


def _may_manage(principal: Principal, partner_id: str) -> None:
    if principal.role == "operator":
        return
    if principal.partner_id != partner_id:
        raise Problem(404, "Not Found", "no such partner")  # not to say whose ids exist
    if not principal.has_scope("keys:manage"):
        raise Problem(403, "Forbidden", "the credential needs the scope keys:manage")


@router.post(
    "",
    status_code=201,
    summary="Make an API key (shown once), optionally replacing an older key after an overlap",
)
async def issue_key(
    partner_id: PartnerIdPath, body: ApiKeyIn, partners: PartnersDep, principal: Manager
) -> IssuedApiKeyView:
    _may_manage(principal, partner_id)
    if principal.role == "partner":
        beyond = sorted(set(body.scopes) - principal.scopes)
        if beyond:
            raise Problem(403, "Forbidden", f"a key may not hold scopes its maker lacks: {beyond}")
    key, doc = await partners.api_keys.issue(
        partner_id,
        list(body.scopes),
        created_by=principal.sub,
        valid_for=timedelta(days=body.valid_days) if body.valid_days else None,
        replaces=body.replaces,
        overlap=timedelta(hours=body.overlap_hours),
    )
    view = ApiKeyView.of(doc, key_state(doc, partners.api_keys.now()))
    return IssuedApiKeyView(**view.model_dump(), key=key)


@router.get("", summary="A partner's API keys (never their secrets)")
async def list_keys(
    partner_id: PartnerIdPath, partners: PartnersDep, principal: Manager
) -> list[ApiKeyView]:
    _may_manage(principal, partner_id)
    now = partners.api_keys.now()
    return [
        ApiKeyView.of(d, key_state(d, now)) for d in await partners.api_keys.of_partner(partner_id)
    ]


@router.post("/{key_id}/revoke", summary="Revoke an API key: it stops working at once")
async def revoke_key(
    partner_id: PartnerIdPath, key_id: KeyIdPath, partners: PartnersDep, principal: Manager
) -> ApiKeyView:
    _may_manage(principal, partner_id)
    doc = await partners.api_keys.revoke(partner_id, key_id)
    return ApiKeyView.of(doc, key_state(doc, partners.api_keys.now()))
