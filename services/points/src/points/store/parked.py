"""The ``parked`` collection: earning events that arrived before their driver's account.

Nothing here is dropped: a parked event is applied when the account opens (or thaws) and only
then deleted; its ledger entry id makes applying it twice harmless. One held too long is
dead-lettered in its place and then deleted. Each document carries the announcement that it
was parked in its ``outbox`` (written with it, published by the relay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from common.outbox import outbox_fields
from points.earning import Earning

Document = dict[str, Any]

PARKED = "parked"

INDEXES = [
    Indexes(
        PARKED,
        (
            IndexModel([("driver_id", 1), ("parked_at", 1)], name="driver"),
            IndexModel([("parked_until", 1)], name="until"),
        ),
    )
]


@dataclass(frozen=True)
class Origin:
    """Where the parked record was read: where it goes back to (as a dead letter)."""

    topic: str
    partition: int
    offset: int
    group_id: str


@dataclass(frozen=True)
class Parked:
    key: str
    earning: Earning
    reason: str
    parked_at: datetime
    # None for events parked before holds had an end (they are held until applied).
    parked_until: datetime | None
    origin: Origin | None


def _parked(doc: Document) -> Parked:
    origin = doc.get("origin")
    return Parked(
        key=doc["_id"],
        earning=Earning.stored(bytes(doc["payload"]), partner=bool(doc["partner"])),
        reason=doc.get("reason", "driver_unknown"),
        parked_at=doc["parked_at"],
        parked_until=doc.get("parked_until"),
        origin=Origin(**origin) if origin else None,
    )


class ParkedEvents:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[PARKED]

    async def park(
        self,
        earning: Earning,
        *,
        reason: str,
        now: datetime,
        until: datetime,
        origin: Origin | None,
        announcement: Document,
    ) -> bool:
        """Hold the event; True when it was not held before (then it is announced once)."""
        result = await self.collection.update_one(
            {"_id": earning.key},
            {
                "$setOnInsert": {
                    "driver_id": earning.driver_id,
                    "payload": earning.payload,
                    "partner": earning.partner,
                    "reason": reason,
                    "parked_at": now,
                    "parked_until": until,
                    "origin": origin.__dict__ if origin else None,
                    **outbox_fields(announcement),
                },
            },
            upsert=True,
        )
        return result.upserted_id is not None

    async def for_driver(self, driver_id: str, limit: int = 500) -> list[Parked]:
        cursor = self.collection.find({"driver_id": driver_id}).sort("parked_at", 1).limit(limit)
        return [_parked(doc) async for doc in cursor]

    async def due(self, now: datetime, limit: int = 200) -> list[Parked]:
        """Held past their time: to be given up."""
        cursor = (
            self.collection.find({"parked_until": {"$lte": now}})
            .sort("parked_until", 1)
            .limit(limit)
        )
        return [_parked(doc) async for doc in cursor]

    async def release(self, key: str) -> None:
        await self.collection.delete_one({"_id": key})

    async def drivers(self, limit: int = 200) -> list[str]:
        pipeline: list[Document] = [
            {"$group": {"_id": "$driver_id"}},
            {"$limit": limit},
        ]
        return [row["_id"] async for row in await self.collection.aggregate(pipeline)]

    async def count(self, driver_id: str | None = None) -> int:
        return await self.collection.count_documents({"driver_id": driver_id} if driver_id else {})
