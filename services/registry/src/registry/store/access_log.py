"""The ``pii_access`` collection: the audit trail of every full reveal (no PII values in it)."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from registry.oversight import AccessRecord

Document = dict[str, Any]

PII_ACCESS = "pii_access"

INDEXES = [Indexes(PII_ACCESS, (IndexModel([("driver_id", 1), ("_id", 1)], name="driver"),))]


class AccessLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[PII_ACCESS]

    async def record(self, entry: AccessRecord) -> None:
        doc = entry.model_dump(mode="python", exclude_none=True)
        doc["_id"] = doc.pop("access_id")
        await self.collection.insert_one(doc)

    async def page(
        self, *, driver_id: str | None, after: str | None, limit: int
    ) -> list[AccessRecord]:
        query: Document = {}
        if driver_id:
            query["driver_id"] = driver_id
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [
            AccessRecord.model_validate(
                {**{k: v for k, v in doc.items() if k != "_id"}, "access_id": doc["_id"]}
            )
            async for doc in cursor
        ]
