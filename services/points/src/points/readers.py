"""Who may read a driver's account and grade: operators, the driver, and partners holding a
read scope for drivers the registry linked to them (common.partner_links, from
``registry.events``), so a scope alone no longer opens every driver's balance."""

from __future__ import annotations

from common.auth import Principal
from common.partner_links import PartnerLinkBook


class AccountReaders:
    def __init__(self, links: PartnerLinkBook) -> None:
        self.links = links

    async def may_read(self, principal: Principal, driver_id: str, *partner_scopes: str) -> bool:
        if principal.role == "operator":
            return True
        if principal.role == "driver":
            return principal.driver_id == driver_id
        if principal.role != "partner" or not any(principal.has_scope(s) for s in partner_scopes):
            return False
        return await self.links.is_linked(principal.partner_id, driver_id)
