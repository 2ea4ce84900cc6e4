"""The ``receipts`` collection: one document per partner event the service heard of.

Written by the ingest (what was received and whether it is on the partner topic yet) and by the
consumers (who applied it, which rejections name it), in single-document updates that a
redelivery repeats harmlessly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

RECEIPTS = "receipts"
INDEXES = [
    Indexes(
        RECEIPTS,
        (
            IndexModel(
                [("partner_id", 1), ("type", 1), ("subject", 1)], name="partner_type_subject"
            ),
            IndexModel([("parked.noticed", 1), ("parked.since", 1)], name="parked"),
        ),
    )
]


def receipt_key(partner_id: str, event_id: str) -> str:
    return f"{partner_id}\x1f{event_id}"


class ReceiptStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[RECEIPTS]

    async def get(self, partner_id: str, event_id: str) -> Document | None:
        return await self.collection.find_one({"_id": receipt_key(partner_id, event_id)})

    async def claim(self, partner_id: str, received: Document, now: datetime) -> Document:
        """The receipt of an event arriving over HTTP: new, or the one there is.

        A receipt the consumers made first (the partner also published the event straight to
        Kafka) has no fingerprint yet; the first HTTP copy gives it one.
        """
        key = receipt_key(partner_id, received["event_id"])
        doc = {
            "_id": key,
            "partner_id": partner_id,
            **received,
            "via": "http",
            "published": False,
            "received_at": now,
        }
        try:
            await self.collection.insert_one(doc)
            return doc
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        adopted = await self.collection.find_one_and_update(
            {"_id": key, "fingerprint": {"$exists": False}},
            {"$set": {**received, "via": "http", "published": False, "received_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return adopted or await self.collection.find_one({"_id": key}) or doc

    async def mark_published(self, key: str, now: datetime) -> Document | None:
        """Published to the partner topic (acks=all); the first time fixes ``accepted_at``."""
        done = await self.collection.find_one_and_update(
            {"_id": key, "published": False},
            {"$set": {"published": True, "accepted_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return done or await self.collection.find_one({"_id": key})

    async def _ensure(self, partner_id: str, event_id: str, now: datetime) -> str:
        key = receipt_key(partner_id, event_id)
        await self.collection.update_one(
            {"_id": key},
            # Dated like one the gateway received, so retention reaches a receipt of an event
            # sent straight to Kafka too.
            {
                "$setOnInsert": {
                    "partner_id": partner_id,
                    "event_id": event_id,
                    "created_at": now,
                    "received_at": now,
                }
            },
            upsert=True,
        )
        return key

    async def add_applied(
        self, partner_id: str, event_id: str, applied: Document, now: datetime
    ) -> None:
        """One entry per consumer that applied the event, however often it is announced."""
        key = await self._ensure(partner_id, event_id, now)
        await self.collection.update_one(
            {"_id": key, "applied.by": {"$ne": applied["by"]}}, {"$push": {"applied": applied}}
        )

    async def add_applied_by_subject(
        self, partner_id: str, event_type: str, subject: str, applied: Document
    ) -> None:
        """Every receipt of a type and subject (a registration by its reference) applied."""
        await self.collection.update_many(
            {
                "partner_id": partner_id,
                "type": event_type,
                "subject": subject,
                "applied.by": {"$ne": applied["by"]},
            },
            {"$push": {"applied": applied}},
        )

    async def add_rejection(
        self, partner_id: str, event_id: str, rejection_id: str, now: datetime
    ) -> None:
        key = await self._ensure(partner_id, event_id, now)
        await self.collection.update_one(
            {"_id": key, "rejections": {"$ne": rejection_id}},
            {"$push": {"rejections": rejection_id}},
        )

    async def set_parked(
        self, partner_id: str, event_id: str, parked: Document, now: datetime
    ) -> None:
        """The first hold is kept: a repeated announcement changes nothing."""
        key = await self._ensure(partner_id, event_id, now)
        await self.collection.update_one(
            {"_id": key, "parked": {"$exists": False}},
            {"$set": {"parked": {**parked, "noticed": False}}},
        )

    async def parked_since_before(self, cutoff: datetime, limit: int = 200) -> list[Document]:
        """Held since before ``cutoff``, neither applied nor rejected, nobody told yet."""
        cursor = self.collection.find(
            {
                "parked.noticed": False,
                "parked.since": {"$lte": cutoff},
                "applied.0": {"$exists": False},
                "rejections.0": {"$exists": False},
            }
        ).limit(limit)
        return [doc async for doc in cursor]

    async def mark_parked_noticed(self, key: str) -> None:
        await self.collection.update_one({"_id": key}, {"$set": {"parked.noticed": True}})
