"""The ``redemptions`` collection: one document per redemption, moved on by conditional steps.

Every change of ``state`` is a ``find_one_and_update`` filtered on the state it leaves, so of
two processes attempting the same step exactly one succeeds (see ``points.mall``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once

Document = dict[str, Any]

REDEMPTIONS = "redemptions"
# What whoever cancelled a redemption wrote (erasure removes it; the refund never carries it).
CANCEL_NOTE = "cancel_note"

# States a redemption does not rest in: a crash there is finished by the sweep.
MOVING = ("reserving", "paying", "cancelling")

INDEXES = [
    Indexes(
        REDEMPTIONS,
        (
            IndexModel([("driver_id", 1), ("created_at", DESCENDING)], name="driver_created"),
            IndexModel([("state", 1), ("updated_at", 1)], name="state_updated"),
            IndexModel([("state", 1), ("expires_at", 1)], name="state_expires"),
        ),
    )
]


class RedemptionStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[REDEMPTIONS]

    async def insert(self, doc: Document) -> Document | None:
        """Insert a new redemption; returns the existing one when the id is taken."""
        if not await insert_once(self.collection, doc):
            return await self.get(str(doc["_id"]))
        return None

    async def get(self, rid: str) -> Document | None:
        return await self.collection.find_one({"_id": rid})

    async def move(
        self,
        rid: str,
        from_state: str,
        fields: Document,
        *,
        extra: Document | None = None,
        inc: Document | None = None,
    ) -> Document | None:
        """The one conditional step: only from ``from_state``; None if another got there first."""
        update: Document = {"$set": fields}
        if inc:
            update["$inc"] = inc
        return await self.collection.find_one_and_update(
            {"_id": rid, "state": from_state, **(extra or {})},
            update,
            return_document=ReturnDocument.AFTER,
        )

    async def bump(self, rid: str, query: Document, inc: Document) -> bool:
        """Whether the redemption matched ``query`` and was counted up."""
        result = await self.collection.update_one({"_id": rid, **query}, {"$inc": inc})
        return result.matched_count == 1

    async def stale(self, cutoff: datetime, limit: int = 200) -> list[Document]:
        cursor = self.collection.find(
            {"state": {"$in": list(MOVING)}, "updated_at": {"$lt": cutoff}}
        ).limit(limit)
        return [doc async for doc in cursor]

    async def due(self, now: datetime, limit: int = 200) -> list[Document]:
        cursor = self.collection.find({"state": "reserved", "expires_at": {"$lte": now}}).limit(
            limit
        )
        return [doc async for doc in cursor]

    async def page(
        self, query: Document, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Document]:
        if after is not None:
            at, rid = after
            query = {
                **query,
                "$or": [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": rid}}],
            }
        cursor = (
            self.collection.find(query, {"code_hash": 0})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]
