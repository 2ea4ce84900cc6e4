"""The ``erasure_receipts`` collection: each service's confirmation of a driver's erasure."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

ERASURE_RECEIPTS = "erasure_receipts"
INDEXES = [Indexes(ERASURE_RECEIPTS)]


class ErasureReceiptStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ERASURE_RECEIPTS]

    async def confirm(self, driver_id: str, service: str, confirmation: Document) -> bool:
        """Note a service's first confirmation; a repeated one changes nothing (False)."""
        try:
            result = await self.collection.update_one(
                {"_id": driver_id, f"confirmations.{service}": {"$exists": False}},
                {"$set": {f"confirmations.{service}": confirmation}},
                upsert=True,
            )
        except Exception as exc:  # the receipt exists and this service confirmed already
            if not is_duplicate_key(exc):
                raise
            return False
        return result.modified_count == 1 or result.upserted_id is not None

    async def get(self, driver_id: str) -> Document | None:
        return await self.collection.find_one({"_id": driver_id})
