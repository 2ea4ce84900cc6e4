"""What every partners router depends on: who calls, the use cases, and the caller's account.

Operators manage accounts. A partner token (role ``partner`` with a ``partner_id`` claim) acts
only for its own partner: its events, receipts, rejections and linked drivers. Scopes:
``events:write`` sends events; ``events:read`` (or ``events:write``) reads receipts and
rejections; ``drivers:read`` looks drivers up.

A suspended partner is refused what would let it keep acting (sending, looking drivers up,
managing its keys) but still reads its receipts and rejections: they tell it what became of
what it sent, the suspension's refusals included.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from common import authz
from common.auth import Principal, require_roles
from common.problems import Problem
from common.requests import IdempotencyKey as IdempotencyKey  # the routers' one import
from common.requests import run_once as run_once
from partners.domain import Partner, PartnerNotFound, PartnerSuspended
from partners.service import Partners

# Operators manage partner accounts with partners:manage (common.authz).
PartnerAdmin = Annotated[Principal, Depends(authz.require_scope("partners:manage"))]
PartnerRole = Annotated[Principal, Depends(require_roles("partner"))]


async def _partners(request: Request) -> Partners:
    partners: Partners = request.app.state.partners
    return partners


PartnersDep = Annotated[Partners, Depends(_partners)]


def require_scope(principal: Principal, *scopes: str) -> str:
    """The caller's partner id, if its token holds one of the scopes."""
    if not principal.partner_id:
        raise Problem(403, "Forbidden", "the token names no partner_id")
    if not any(principal.has_scope(s) for s in scopes):
        raise Problem(403, "Forbidden", f"the token needs the scope {' or '.join(scopes)}")
    return principal.partner_id


async def own_account(partners: Partners, partner_id: str) -> Partner:
    """The caller's account; a token for a partner that has none is refused like a bad one."""
    try:
        return await partners.accounts.get(partner_id)
    except PartnerNotFound as exc:
        raise Problem(403, "Forbidden", "no such partner account") from exc


async def active_account(partners: Partners, partner_id: str) -> Partner:
    """The caller's account, refused while suspended with the problem ingest answers."""
    partner = await own_account(partners, partner_id)
    if partner.status != "active":
        raise PartnerSuspended(partner_id)
    return partner
