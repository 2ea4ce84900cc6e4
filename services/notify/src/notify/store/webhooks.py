"""The ``webhooks`` collection: partners' subscriptions (secret kept encrypted)."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

WEBHOOKS = "webhooks"
INDEXES = [Indexes(WEBHOOKS, (IndexModel([("partner_id", 1), ("created_at", -1)]),))]


class WebhookStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[WEBHOOKS]

    async def insert(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, subscription_id: str) -> Document | None:
        return await self.collection.find_one({"_id": subscription_id})

    async def of_partner(self, partner_id: str | None) -> list[Document]:
        query: Document = {} if partner_id is None else {"partner_id": partner_id}
        return await self.collection.find(query).sort([("created_at", -1)]).to_list()

    async def active(self) -> list[Document]:
        return await self.collection.find({"active": True}).to_list()

    async def delete(self, subscription_id: str, partner_id: str | None) -> bool:
        query: Document = {"_id": subscription_id}
        if partner_id is not None:
            query["partner_id"] = partner_id
        result = await self.collection.delete_one(query)
        return result.deleted_count == 1
