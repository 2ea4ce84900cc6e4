"""The clock side of the ``cases`` collection: what the breach scan and the deadline recount
read and write. Neither bumps the version for what a person did not do, so they never make a
person's transition fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from cases.case import Case
from cases.domain import FINISHED
from cases.store.cases import CASES
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]


class CaseClocks:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CASES]

    async def announce(
        self,
        case_id: str,
        *,
        version: int,
        checked: datetime,
        keys: list[str],
        set_fields: Document,
        outbox: list[Document],
    ) -> bool:
        """Record announcements once.

        Pinned to the version read (so it never contradicts a transition made meanwhile) but it
        does not bump it, so the scan never makes a person's transition fail. Of two scans that
        read the same case, the first moves its ``next_check`` on from ``checked`` (the due time
        it was found by) to the next announcement's or none, so the second's filter finds
        nothing: exactly one announces. Only were the next check to stay where it was does the
        filter ask for the keys not announced yet instead, which the local store answers by
        reading every case.
        """
        guard: Document = {"next_check": checked}
        if set_fields.get("next_check") == checked:
            guard = {"announced": {"$nin": keys}}
        result = await self.collection.update_one(
            {"_id": case_id, "version": version, **guard},
            push_outbox({"$set": set_fields, "$push": {"announced": {"$each": keys}}}, outbox),
        )
        return result.modified_count == 1

    async def set_next_check(self, case_id: str, version: int, at: datetime | None) -> None:
        """When the scan looks at the case next; a case changed meanwhile is left as it is."""
        await self.collection.update_one(
            {"_id": case_id, "version": version}, {"$set": {"next_check": at}}
        )

    async def due_for_scan(self, now: datetime, limit: int) -> list[Case]:
        cursor = (
            self.collection.find({"next_check": {"$lte": now}}, {**OUTBOX_HIDDEN, "history": 0})
            .sort("next_check", 1)
            .limit(limit)
        )
        return [Case.of(doc) async for doc in cursor]

    async def counted_before(self, year: int, key: str, limit: int) -> list[Document]:
        """Open cases whose clocks count days in ``year`` but not with its days as ``key``."""
        cursor = self.collection.find(
            {
                "clock_years": year,
                "calendar_keys": {"$nin": [key]},
                "status": {"$nin": sorted(FINISHED)},
            },
            {**OUTBOX_HIDDEN, "history": 0},
        ).limit(limit)
        return [doc async for doc in cursor]

    async def recounted(
        self, case_id: str, *, version: int, set_fields: Document, outbox: Document | None
    ) -> bool:
        """Store a recount, pinned to the version read; only a changed deadline bumps it."""
        update: Document = {"$set": set_fields}
        if outbox is not None:
            update = push_outbox({**update, "$inc": {"version": 1}}, outbox)
        result = await self.collection.update_one({"_id": case_id, "version": version}, update)
        return result.modified_count == 1
