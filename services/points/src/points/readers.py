"""Who may read a driver's account and grade: operators, the driver, and partners holding a
read scope for drivers the registry linked to them (common.partner_links, from
``registry.events``), so a scope alone no longer opens every driver's balance.

A partner the partners service suspended (``partner.suspended.v1`` on ``partners.events``, the
runtime's partner directory) reads no driver at all until reinstated: its token and its links
outlive the suspension, so neither can be what stops it."""

from __future__ import annotations

from common.auth import Principal
from common.partner_directory import PartnerDirectory
from common.partner_links import PartnerLinkBook
from points.domain import PartnerSuspended


class AccountReaders:
    def __init__(self, links: PartnerLinkBook, directory: PartnerDirectory) -> None:
        self.links = links
        self.directory = directory

    async def may_read(self, principal: Principal, driver_id: str, *partner_scopes: str) -> bool:
        if principal.role == "operator":
            return True
        if principal.role == "driver":
            return principal.driver_id == driver_id
        if principal.role != "partner" or not any(principal.has_scope(s) for s in partner_scopes):
            return False
        partner = self.directory.get(principal.partner_id or "")
        # Only an announced suspension refuses: a partner the directory does not know keeps
        # the link check alone, as before (a platform without the partners service).
        if partner is not None and partner.status != "active":
            # 403 partner_suspended, as the partners gateway answers the same partner's lookups.
            raise PartnerSuspended(partner.partner_id)
        return await self.links.is_linked(principal.partner_id, driver_id)
