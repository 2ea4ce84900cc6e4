"""The ``cases`` collection: one document per case, with its clocks, history and outbox.

Every transition is one ``update_one`` whose filter pins the status and the version read, so
of two concurrent changes exactly one applies and the other finds nothing to update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from cases.domain import FINISHED
from common.mongo import Indexes

Document = dict[str, Any]

CASES = "cases"

INDEXES = [
    Indexes(
        CASES,
        (
            IndexModel([("driver_id", 1), ("opened_at", -1)], name="driver"),
            IndexModel([("next_check", 1)], name="next_check", sparse=True),
            IndexModel([("unit_ids", 1), ("opened_at", -1)], name="units"),
            IndexModel([("station_id", 1), ("opened_at", -1)], name="station"),
            IndexModel([("status", 1), ("opened_at", -1)], name="status"),
            IndexModel([("respondent.id", 1)], name="respondent", sparse=True),
            IndexModel([("month", 1)], name="month"),
            IndexModel([("collective_id", 1)], name="collective", sparse=True),
            IndexModel([("clock_years", 1)], name="clock_years", sparse=True),
        ),
    )
]


class CaseStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CASES]

    async def insert(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, case_id: str) -> Document | None:
        return await self.collection.find_one({"_id": case_id}, {"outbox": 0})

    async def transition(
        self,
        case_id: str,
        *,
        status: str,
        version: int,
        set_fields: Document,
        push: Document,
        extra_filter: Document | None = None,
        add_to_set: Document | None = None,
        pull: Document | None = None,
    ) -> bool:
        query: Document = {"_id": case_id, "status": status, "version": version}
        if extra_filter:
            query.update(extra_filter)
        update: Document = {"$set": set_fields, "$inc": {"version": 1}, "$push": push}
        if add_to_set:
            update["$addToSet"] = add_to_set
        if pull:
            update["$pull"] = pull
        result = await self.collection.update_one(query, update)
        return result.modified_count == 1

    async def announce(
        self,
        case_id: str,
        *,
        version: int,
        keys: list[str],
        set_fields: Document,
        outbox: list[Document],
    ) -> bool:
        """Record announcements once: the filter refuses keys already announced.

        Pinned to the version read (so it never contradicts a transition made meanwhile) but it
        does not bump it, so the scan never makes a person's transition fail.
        """
        result = await self.collection.update_one(
            {"_id": case_id, "version": version, "announced": {"$nin": keys}},
            {
                "$set": set_fields,
                "$push": {"announced": {"$each": keys}, "outbox": {"$each": outbox}},
            },
        )
        return result.modified_count == 1

    async def mark_compensation_applied(self, case_id: str, record: Document) -> bool:
        """Push ``record`` unless a record with its id is there already (idempotent)."""
        result = await self.collection.update_one(
            {"_id": case_id, "compensations_applied.id": {"$ne": record["id"]}},
            {"$push": {"compensations_applied": record}},
        )
        return result.modified_count == 1

    async def link_collective(self, case_id: str, collective_id: str) -> bool:
        """Put one case in a collective unless it is in another one already.

        Touches neither status, clocks nor version: linking is not a transition.
        """
        result = await self.collection.update_one(
            {"_id": case_id, "collective_id": {"$in": [None, collective_id]}},
            {"$set": {"collective_id": collective_id}},
        )
        return result.matched_count == 1

    async def unlink_collective(self, case_id: str, collective_id: str) -> bool:
        result = await self.collection.update_one(
            {"_id": case_id, "collective_id": collective_id}, {"$set": {"collective_id": None}}
        )
        return result.modified_count == 1

    async def set_next_check(self, case_id: str, version: int, at: datetime | None) -> None:
        await self.collection.update_one(
            {"_id": case_id, "version": version}, {"$set": {"next_check": at}}
        )

    async def due_for_scan(self, now: datetime, limit: int) -> list[Document]:
        cursor = (
            self.collection.find({"next_check": {"$lte": now}}, {"outbox": 0, "history": 0})
            .sort("next_check", 1)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def counted_before(self, year: int, key: str, limit: int) -> list[Document]:
        """Open cases whose clocks count days in ``year`` but not with its days as ``key``."""
        cursor = self.collection.find(
            {
                "clock_years": year,
                "calendar_keys": {"$nin": [key]},
                "status": {"$nin": sorted(FINISHED)},
            },
            {"outbox": 0, "history": 0},
        ).limit(limit)
        return [doc async for doc in cursor]

    async def recounted(
        self, case_id: str, *, version: int, set_fields: Document, outbox: Document | None
    ) -> bool:
        """Store a recount, pinned to the version read; only a changed deadline bumps it."""
        update: Document = {"$set": set_fields}
        if outbox is not None:
            update.update({"$inc": {"version": 1}, "$push": {"outbox": outbox}})
        result = await self.collection.update_one({"_id": case_id, "version": version}, update)
        return result.modified_count == 1

    async def find(
        self, query: Document, *, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Document]:
        if after is not None:
            at, case_id = after
            query = {
                "$and": [
                    query,
                    {
                        "$or": [
                            {"opened_at": {"$lt": at}},
                            {"opened_at": at, "_id": {"$lt": case_id}},
                        ]
                    },
                ]
            }
        cursor = (
            self.collection.find(query, {"outbox": 0, "history": 0})
            .sort([("opened_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def for_figures(self, query: Document) -> list[Document]:
        projection = {
            "status": 1,
            "category": 1,
            "kind": 1,
            "lead_unit_id": 1,
            "month": 1,
            "clocks": 1,
            "round": 1,
            "revisits": 1,
            "exempt": 1,
            "resolved_at": 1,
            "collective_id": 1,
        }
        return [doc async for doc in self.collection.find(query, projection)]
