"""The ``parked`` collection: earning events that arrived before their driver's account.

Nothing here is dropped: a parked event is applied when the account opens (or thaws) and only
then deleted; its ledger entry id makes applying it twice harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.events import CloudEvent
from common.mongo import Indexes

Document = dict[str, Any]

PARKED = "parked"

INDEXES = [Indexes(PARKED, (IndexModel([("driver_id", 1), ("parked_at", 1)], name="driver"),))]


def _key(event: CloudEvent) -> str:
    return f"{event.subject}\x1f{event.source}\x1f{event.id}"


class ParkedEvents:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[PARKED]

    async def park(self, event: CloudEvent, *, partner: bool, reason: str) -> None:
        await self.collection.update_one(
            {"_id": _key(event)},
            {
                "$setOnInsert": {
                    "driver_id": event.subject,
                    "payload": event.to_bytes(),
                    "partner": partner,
                    "parked_at": datetime.now(UTC),
                },
                "$set": {"reason": reason},
            },
            upsert=True,
        )

    async def for_driver(self, driver_id: str, limit: int = 500) -> list[tuple[CloudEvent, bool]]:
        cursor = self.collection.find({"driver_id": driver_id}).sort("parked_at", 1).limit(limit)
        return [
            (CloudEvent.model_validate_json(bytes(doc["payload"])), bool(doc["partner"]))
            async for doc in cursor
        ]

    async def release(self, event: CloudEvent) -> None:
        await self.collection.delete_one({"_id": _key(event)})

    async def drivers(self, limit: int = 200) -> list[str]:
        pipeline: list[Document] = [
            {"$group": {"_id": "$driver_id"}},
            {"$limit": limit},
        ]
        return [row["_id"] async for row in await self.collection.aggregate(pipeline)]

    async def count(self, driver_id: str | None = None) -> int:
        return await self.collection.count_documents({"driver_id": driver_id} if driver_id else {})
