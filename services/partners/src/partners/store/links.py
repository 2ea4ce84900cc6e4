"""The ``driver_links`` read model: which driver id a partner's reference names (from
``registry.events``), and the ``grades`` read model (from ``points.events``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

LINKS = "driver_links"
GRADES = "grades"
INDEXES = [
    Indexes(
        LINKS,
        (IndexModel([("partner_id", 1), ("driver_id", 1)], name="partner_driver"),),
    ),
    Indexes(GRADES),
]


def link_key(partner_id: str, ref: str) -> str:
    return f"{partner_id}\x1f{ref}"


class LinkStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[LINKS]

    async def link(self, partner_id: str, ref: str, driver_id: str, at: datetime) -> bool:
        """Record the link; True when it is new (or now names another driver)."""
        result = await self.collection.update_one(
            {"_id": link_key(partner_id, ref)},
            {
                "$set": {"partner_id": partner_id, "ref": ref, "driver_id": driver_id},
                "$setOnInsert": {"linked_at": at},
            },
            upsert=True,
        )
        return result.upserted_id is not None or result.modified_count > 0

    async def by_ref(self, partner_id: str, ref: str) -> Document | None:
        return await self.collection.find_one({"_id": link_key(partner_id, ref)})


class GradeStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[GRADES]

    async def put(self, driver_id: str, fields: Document, changed_at: datetime) -> None:
        """Keep the newest grade: an older event arriving late changes nothing."""
        newer = await self.collection.update_one(
            {"_id": driver_id, "changed_at": {"$lt": changed_at}},
            {"$set": {**fields, "changed_at": changed_at}},
        )
        if newer.matched_count:
            return
        try:
            await self.collection.insert_one({"_id": driver_id, **fields, "changed_at": changed_at})
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise

    async def get(self, driver_id: str) -> Document | None:
        return await self.collection.find_one({"_id": driver_id})
