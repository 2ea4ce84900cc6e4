"""The ``rewards`` collection: the mall's catalogue, stock and the units held per redemption.

``stock`` is what is still available. Every unit taken for a redemption moves, in the same
single-document update, from ``stock`` into ``holds`` as ``{rid, token, at}``; a unit leaves
``holds`` exactly once: back to ``stock`` (release) or handed over (consume). Both are
conditional on the token still being held, so a retried or concurrent release is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once

Document = dict[str, Any]

REWARDS = "rewards"

INDEXES = [
    Indexes(
        REWARDS,
        (
            IndexModel([("active", 1), ("category", 1)], name="active_category"),
            IndexModel([("holds.at", 1)], name="holds_at"),
        ),
    )
]


class RewardStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[REWARDS]

    async def create(self, doc: Document) -> bool:
        """Insert a new reward; False when the id is taken."""
        return await insert_once(self.collection, {**doc, "holds": [], "issued": 0})

    async def get(self, reward_id: str) -> Document | None:
        return await self.collection.find_one({"_id": reward_id})

    async def update(
        self, reward_id: str, fields: Document, *, when: Document | None = None
    ) -> Document | None:
        return await self.collection.find_one_and_update(
            {"_id": reward_id, **(when or {})},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )

    async def restock(self, reward_id: str, delta: int, at: datetime) -> Document | None:
        """Add (or remove) available units; never below zero. None if it would go negative."""
        query: Document = {"_id": reward_id}
        if delta < 0:
            query["stock"] = {"$gte": -delta}
        return await self.collection.find_one_and_update(
            query,
            {"$inc": {"stock": delta}, "$set": {"updated_at": at}},
            return_document=ReturnDocument.AFTER,
        )

    async def browse(self, query: Document, *, after: str | None, limit: int) -> list[Document]:
        if after is not None:
            query = {**query, "_id": {"$gt": after}}
        cursor = self.collection.find(query, {"holds": 0}).sort("_id", 1).limit(limit)
        return [doc async for doc in cursor]

    # units of stock -------------------------------------------------------------------
    async def take(self, reward_id: str, rid: str, token: str, at: datetime) -> bool:
        """Move one unit from stock to a hold for ``rid``; False if none left (or already held)."""
        result = await self.collection.update_one(
            {"_id": reward_id, "active": True, "stock": {"$gte": 1}, "holds.rid": {"$ne": rid}},
            {"$inc": {"stock": -1}, "$push": {"holds": {"rid": rid, "token": token, "at": at}}},
        )
        return result.modified_count == 1

    async def hold_of(self, reward_id: str, rid: str) -> Document | None:
        doc = await self.collection.find_one({"_id": reward_id, "holds.rid": rid}, {"holds": 1})
        if doc is None:
            return None
        return next((h for h in doc.get("holds", []) if h.get("rid") == rid), None)

    async def release(self, reward_id: str, token: str) -> bool:
        """Give a held unit back to stock; True only for the call that actually gave it back."""
        result = await self.collection.update_one(
            {"_id": reward_id, "holds.token": token},
            {"$inc": {"stock": 1}, "$pull": {"holds": {"token": token}}},
        )
        return result.modified_count == 1

    async def consume(self, reward_id: str, token: str) -> bool:
        """A held unit was handed over: it leaves the holds without returning to stock."""
        result = await self.collection.update_one(
            {"_id": reward_id, "holds.token": token},
            {"$inc": {"issued": 1}, "$pull": {"holds": {"token": token}}},
        )
        return result.modified_count == 1

    async def confirm(self, reward_id: str, token: str) -> None:
        """Flag a hold as confirmed by its redemption, so the sweep stops examining it."""
        await self.collection.update_one(
            {"_id": reward_id, "holds.token": token}, {"$set": {"holds.$.ok": True}}
        )

    async def with_unconfirmed_holds(self, cutoff: datetime, limit: int = 100) -> list[Document]:
        cursor = self.collection.find(
            {"holds": {"$elemMatch": {"ok": {"$ne": True}, "at": {"$lt": cutoff}}}}, {"holds": 1}
        ).limit(limit)
        return [doc async for doc in cursor]
