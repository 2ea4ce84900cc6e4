"""The ``api_keys`` collection: partners' API keys, kept as SHA-256 digests of their secrets.

The secret is shown once when the key is made; a stolen copy of this collection names no usable
key. A key is never deleted: revoking or replacing it sets when it stops working, so an audit can
still say which key sent what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

API_KEYS = "api_keys"
INDEXES = [Indexes(API_KEYS, (IndexModel([("partner_id", 1), ("created_at", 1)], name="partner"),))]


class ApiKeyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[API_KEYS]

    async def add(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, key_id: str) -> Document | None:
        return await self.collection.find_one({"_id": key_id})

    async def of_partner(self, partner_id: str) -> list[Document]:
        cursor = self.collection.find({"partner_id": partner_id}).sort("created_at", 1)
        return [doc async for doc in cursor]

    async def end(self, partner_id: str, key_id: str, at: datetime, field: str) -> Document | None:
        """Make the key stop working at ``at`` (sooner only: an earlier end is kept)."""
        return await self.collection.find_one_and_update(
            {
                "_id": key_id,
                "partner_id": partner_id,
                "$or": [{"expires_at": None}, {"expires_at": {"$gt": at}}],
            },
            {"$set": {"expires_at": at, field: at}},
            return_document=ReturnDocument.AFTER,
        )

    async def claim_replacement(
        self, partner_id: str, key_id: str, now: datetime, until: datetime
    ) -> bool:
        """Mark a working key not replaced yet as replaced, to stop at ``until`` (or sooner, as
        set); False when it is replaced, revoked or expired already. One rotation wins."""
        mine: Document = {
            "_id": key_id,
            "partner_id": partner_id,
            "replaced_at": None,
            "revoked_at": None,
        }
        later = await self.collection.update_one(
            {**mine, "$or": [{"expires_at": None}, {"expires_at": {"$gt": until}}]},
            {"$set": {"expires_at": until, "replaced_at": until}},
        )
        if later.modified_count == 1:
            return True
        sooner = await self.collection.update_one(
            {**mine, "expires_at": {"$gt": now, "$lte": until}}, {"$set": {"replaced_at": until}}
        )
        return sooner.modified_count == 1
