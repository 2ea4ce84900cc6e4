"""The ``fleets`` collection: haulage companies and owner-operators drivers are affiliated to."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key
from registry.groups import Fleet

Document = dict[str, Any]

FLEETS = "fleets"

INDEXES = [Indexes(FLEETS, (IndexModel([("name", 1)], unique=True, name="name_unique"),))]


def _from_doc(doc: Document) -> Fleet:
    return Fleet.model_validate(
        {**{k: v for k, v in doc.items() if k != "_id"}, "fleet_id": doc["_id"]}
    )


class FleetStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[FLEETS]

    async def get(self, fleet_id: str) -> Fleet | None:
        doc = await self.collection.find_one({"_id": fleet_id})
        return _from_doc(doc) if doc else None

    async def by_name(self, name: str) -> Fleet | None:
        doc = await self.collection.find_one({"name": name})
        return _from_doc(doc) if doc else None

    async def insert(self, fleet: Fleet) -> Fleet:
        """Insert, or answer the fleet of the same name that is already there."""
        doc = fleet.model_dump(mode="python")
        doc["_id"] = doc.pop("fleet_id")
        for _ in range(3):
            try:
                stored = await self.collection.find_one_and_update(
                    {"name": fleet.name},
                    {"$setOnInsert": {k: v for k, v in doc.items() if k != "name"}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                if stored:
                    return _from_doc(stored)
            except Exception as exc:
                if not is_duplicate_key(exc):  # two upserts of one name raced: read again
                    raise
        existing = await self.by_name(fleet.name)
        if existing is None:
            raise RuntimeError("fleet upsert neither inserted nor found a fleet")
        return existing

    async def insert_many_raw(self, fleets: list[Fleet]) -> None:
        docs = []
        for fleet in fleets:
            doc = fleet.model_dump(mode="python")
            doc["_id"] = doc.pop("fleet_id")
            docs.append(doc)
        await self.collection.insert_many(docs, ordered=False)

    async def page(self, *, after: str | None, limit: int) -> list[Fleet]:
        query: Document = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]
