"""Reading cases: one case, or a page of the cases a caller may see."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cases.access import listing_for, refuse_driver_filters
from cases.case import Case
from cases.records import CaseRecords
from common.auth import Principal


@dataclass(frozen=True)
class CasePage:
    items: list[Case]
    # The last case read when the page is full (the next page starts after it), else None.
    last: Case | None


class Lookup:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records

    async def get(self, principal: Principal, case_id: str) -> Case:
        return await self._records.visible(principal, case_id)

    async def page(
        self,
        principal: Principal,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        status: str | None = None,
        driver_id: str | None = None,
        driver_ids: list[str] | None = None,
    ) -> CasePage:
        if driver_id or driver_ids is not None:
            refuse_driver_filters(principal)
        listing = listing_for(principal)
        if driver_ids is not None:
            listing = replace(listing, driver_ids=driver_ids)
        if status:
            listing = replace(listing, status=status)
        if driver_id:
            # A filter only narrows: a driver naming someone else lists nothing (and reads none
            # of their cases, so no page or cursor can tell of them).
            mismatch = listing.driver_id is not None and listing.driver_id != driver_id
            listing = replace(listing, driver_id=driver_id, nothing=listing.nothing or mismatch)
        found = await self._records.store.listed(listing, limit=limit, after=after)
        access = self._records.access
        visible = [case for case in found if await access.may_see(principal, case)]
        return CasePage(items=visible, last=found[-1] if len(found) == limit else None)
