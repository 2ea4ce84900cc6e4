"""The ``accounts`` collection: one document per driver's points account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.idempotency import ProcessedEvents
from common.mongo import Indexes
from points.domain import OPENING_GRADE, Account

Document = dict[str, Any]

ACCOUNTS = "accounts"
PROCESSED = "processed_events"

INDEXES = [Indexes(ACCOUNTS), ProcessedEvents.indexes(PROCESSED)]


def _from_doc(doc: Document) -> Account:
    return Account.model_validate({**doc, "driver_id": doc["_id"]})


class AccountStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ACCOUNTS]

    async def open(self, driver_id: str, opened_at: datetime) -> Account:
        """Create the account if absent (an upsert, so a replay changes nothing)."""
        doc = await self.collection.find_one_and_update(
            {"_id": driver_id},
            {
                "$setOnInsert": {
                    "balance": 0,
                    "grade": OPENING_GRADE,
                    "status": "active",
                    "opened_at": opened_at,
                    "created_at": datetime.now(UTC),
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # an upsert returning AFTER always has the document
            raise RuntimeError(f"account upsert returned nothing for {driver_id}")
        return _from_doc(doc)

    async def get(self, driver_id: str) -> Account | None:
        doc = await self.collection.find_one({"_id": driver_id})
        return _from_doc(doc) if doc else None
