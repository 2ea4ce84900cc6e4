"""The ``rejections`` collection: one document per partner record that was dead-lettered.

Its id is the original record's position (topic, partition, offset), so the same record refused
by several consumer groups, or a DLQ record read twice, stays one rejection. Its webhook notice
is kept in ``webhook_notices`` under the rejection's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

REJECTIONS = "rejections"
INDEXES = [
    Indexes(
        REJECTIONS,
        (IndexModel([("partner_id", 1), ("recorded_at", 1), ("_id", 1)], name="partner_page"),),
    )
]


class RejectionStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[REJECTIONS]

    async def record(
        self, rejection_id: str, base: Document, refusal: Document, now: datetime
    ) -> bool:
        """Record a refusal of a record; True when the record was not rejected before."""
        created = await self.collection.update_one(
            {"_id": rejection_id},
            {"$setOnInsert": {**base, "recorded_at": now}},
            upsert=True,
        )
        await self.collection.update_one(
            {"_id": rejection_id, "refusals.consumer_group": {"$ne": refusal["consumer_group"]}},
            {"$push": {"refusals": refusal}},
        )
        return created.upserted_id is not None

    async def get(self, rejection_id: str) -> Document | None:
        return await self.collection.find_one({"_id": rejection_id})

    async def by_ids(self, ids: list[str]) -> list[Document]:
        return [d async for d in self.collection.find({"_id": {"$in": ids}}).sort("recorded_at")]

    async def page(
        self, partner_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Document]:
        query: Document = {"partner_id": partner_id}
        if after is not None:
            at, last = after
            query["$or"] = [
                {"recorded_at": {"$gt": at}},
                {"recorded_at": at, "_id": {"$gt": last}},
            ]
        cursor = self.collection.find(query).sort([("recorded_at", 1), ("_id", 1)]).limit(limit)
        return [doc async for doc in cursor]
