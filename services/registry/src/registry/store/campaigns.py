"""The ``census_campaigns`` collection: one document per quarterly verification campaign."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from registry.oversight import Campaign

Document = dict[str, Any]

CAMPAIGNS = "census_campaigns"

INDEXES = [Indexes(CAMPAIGNS)]


def _from_doc(doc: Document) -> Campaign:
    return Campaign.model_validate(
        {**{k: v for k, v in doc.items() if k != "_id"}, "campaign_id": doc["_id"]}
    )


class CampaignStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CAMPAIGNS]

    async def insert(self, campaign: Campaign) -> None:
        doc = campaign.model_dump(mode="python")
        doc["_id"] = doc.pop("campaign_id")
        await self.collection.insert_one(doc)

    async def get(self, campaign_id: str) -> Campaign | None:
        doc = await self.collection.find_one({"_id": campaign_id})
        return _from_doc(doc) if doc else None

    async def page(self, *, after: str | None, limit: int) -> list[Campaign]:
        query: Document = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]
