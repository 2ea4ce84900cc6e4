"""Four eyes in partners (``common.approvals``): registering a partner, changing what it may
send (its allowed event types: the partner's scope on the bus), suspending it and lifting a
suspension happen only once a second person with ``partners:manage`` approves.

Each command is safe to run twice after a crash: a partner registered by the first run is found
again by the second (same name and types), and changes, suspensions and reinstatements that are
already in force change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.approvals import ApprovalRequest, Area, CommandRefused, ScopeChecker
from partners.accounts import Accounts
from partners.api.schemas import PartnerIn, PartnerPatch, PartnerView
from partners.domain import Partner, PartnerChanged, PartnerExists, PartnersError

PARTNER_ACCOUNT = "partner_account"


async def _register(accounts: Accounts, command: dict[str, Any]) -> Partner:
    body = PartnerIn.model_validate(command["partner"])
    try:
        return await accounts.register(
            body.partner_id,
            body.name,
            list(body.allowed_types),
            contact=body.contact,
            quotas=body.quotas.quotas() if body.quotas else None,
        )
    except PartnerExists:
        existing = await accounts.get(body.partner_id)
        asked = (body.name, sorted(body.allowed_types))
        if (existing.name, sorted(existing.allowed_types)) != asked:
            raise
        return existing  # this approval's first run registered it


async def _update(accounts: Accounts, command: dict[str, Any]) -> Partner:
    body = PartnerPatch.model_validate(command["patch"])
    given = body.model_dump(exclude_unset=True)
    return await accounts.update(
        command["partner_id"],
        name=body.name,
        allowed_types=list(body.allowed_types) if body.allowed_types is not None else None,
        quotas=body.quotas.quotas() if body.quotas is not None else None,
        **({"contact": body.contact} if "contact" in given else {}),
    )


async def _run(accounts: Accounts, command: dict[str, Any]) -> Partner:
    action = command["action"]
    if action == "register":
        return await _register(accounts, command)
    if action == "update":
        return await _update(accounts, command)
    if action == "suspend":
        return await accounts.suspend(command["partner_id"], command["reason"])
    return await accounts.reinstate(command["partner_id"])


def partners_areas(accounts: Accounts) -> list[Area]:
    async def change(request: ApprovalRequest) -> Mapping[str, Any]:
        try:
            partner = await _run(accounts, request.command)
        except PartnerChanged:
            raise  # changed by someone else meanwhile: the sweeper runs it again
        except PartnersError as exc:
            raise CommandRefused(exc.message or type(exc).__name__) from exc
        return PartnerView.of(partner).model_dump(mode="json")

    return [Area(PARTNER_ACCOUNT, ScopeChecker("partners:manage"), change)]
