"""Festival campaigns (``aid_campaigns``) and one delivery per driver (``aid_deliveries``).

A delivery carries its own ``outbox`` (its allotment and its confirmation), so a campaign of
thousands of drivers never grows one document without bound.
"""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]

CAMPAIGNS = "aid_campaigns"
DELIVERIES = "aid_deliveries"

INDEXES = [
    Indexes(
        DELIVERIES,
        (
            IndexModel([("campaign_id", 1), ("driver_id", 1)], name="one_each", unique=True),
            IndexModel([("driver_id", 1)], name="recipient"),
        ),
    )
]


class CampaignStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.campaigns = db[CAMPAIGNS]
        self.deliveries = db[DELIVERIES]

    async def insert(self, campaign: Document, deliveries: list[Document]) -> None:
        await self.campaigns.insert_one(campaign)
        if deliveries:
            await self.deliveries.insert_many(deliveries)

    async def get(self, campaign_id: str) -> Document | None:
        return await self.campaigns.find_one({"_id": campaign_id})

    async def deliveries_of(self, campaign_id: str) -> list[Document]:
        cursor = self.deliveries.find({"campaign_id": campaign_id}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor.sort("driver_id", 1)]

    async def mine(self, driver_id: str) -> list[Document]:
        cursor = self.deliveries.find({"driver_id": driver_id}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor.sort("allotted_at", -1).limit(100)]

    async def deliver(
        self, campaign_id: str, driver_id: str, fields: Document, event: Document
    ) -> Document | None:
        """Only once: a delivery still ``allotted`` becomes ``delivered``."""
        return await self.deliveries.find_one_and_update(
            {"campaign_id": campaign_id, "driver_id": driver_id, "status": "allotted"},
            push_outbox({"$set": fields}, event),
            projection=OUTBOX_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )
