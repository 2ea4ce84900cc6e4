"""The ``rate_limits`` collection: which causes a driver got per category and time window.

Each window document lists the causes in arrival order (``$addToSet``), so a cause's position
is the same however often its event is redelivered: the limit decision is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

RATE_LIMITS = "rate_limits"
INDEXES = [Indexes(RATE_LIMITS, (IndexModel([("window", 1)], name="window"),))]


class RateLimitStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[RATE_LIMITS]

    async def position(self, driver_id: str, category: str, window: int, cause: str) -> int:
        """0-based position of ``cause`` among the driver's causes in this window."""
        doc = await self.collection.find_one_and_update(
            {"_id": f"{driver_id}|{category}|{window}"},
            {"$addToSet": {"causes": cause}, "$setOnInsert": {"window": window}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        causes: list[str] = (doc or {}).get("causes", [])
        return causes.index(cause) if cause in causes else 0

    async def positions(
        self, driver_ids: Sequence[str], category: str, window: int, cause: str
    ) -> dict[str, int]:
        """``position`` for many drivers in two round trips (a broadcast's page): one unordered
        bulk of the same idempotent upserts, then one read of the windows."""
        if not driver_ids:
            return {}
        keys = {f"{d}|{category}|{window}": d for d in driver_ids}
        await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": key},
                    {"$addToSet": {"causes": cause}, "$setOnInsert": {"window": window}},
                    upsert=True,
                )
                for key in keys
            ],
            ordered=False,
        )
        docs = await self.collection.find({"_id": {"$in": list(keys)}}, {"causes": 1}).to_list()
        out: dict[str, int] = {}
        for doc in docs:
            causes: list[str] = doc.get("causes", [])
            out[keys[doc["_id"]]] = causes.index(cause) if cause in causes else 0
        return out

    async def purge_before(self, window: int) -> None:
        """No TTL indexes in the store subset: old windows are removed by the dispatcher."""
        await self.collection.delete_many({"window": {"$lt": window}})
