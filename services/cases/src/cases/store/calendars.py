"""The ``calendars`` collection: one document per year an operator (or a notice file) loaded.

Each document holds the year's holidays and make-up working days as the notice gives them,
a ``version`` bumped by every change, the audit ``history`` of the loads, and the ``outbox``
with the event announcing the change (published by the outbox relay).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.outbox import OUTBOX_HIDDEN, outbox_fields, push_outbox

Document = dict[str, Any]

CALENDARS = "calendars"
# The audit trail and the outbox are not needed to count days.
_DAYS_ONLY = {"history": 0, **OUTBOX_HIDDEN}


class CalendarStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CALENDARS]

    async def get(self, year: int) -> Document | None:
        return await self.collection.find_one({"_id": year}, OUTBOX_HIDDEN)

    async def all(self) -> list[Document]:
        return [doc async for doc in self.collection.find({}, _DAYS_ONLY).sort("_id", 1)]

    async def create(self, doc: Document, audit: Document, event: Document) -> bool:
        """The first load of a year; False when another load created it meanwhile."""
        try:
            await self.collection.insert_one(
                {
                    **doc,
                    "_id": doc["year"],
                    "version": 1,
                    "history": [audit],
                    **outbox_fields(event),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def replace(
        self, doc: Document, *, version: int, audit: Document, event: Document
    ) -> bool:
        """A correction, pinned to the version read; False when someone else changed it first."""
        result = await self.collection.update_one(
            {"_id": doc["year"], "version": version},
            push_outbox({"$set": doc, "$inc": {"version": 1}, "$push": {"history": audit}}, event),
        )
        return result.modified_count == 1
