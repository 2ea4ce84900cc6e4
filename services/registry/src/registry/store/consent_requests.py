"""The ``consent_requests`` collection: consents station staff asked a driver to confirm, and the
one-time codes a driver's app made for the staff to type in (issue 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

CONSENT_REQUESTS = "consent_requests"

# Requests and codes are short-lived; the consent they lead to is kept in the driver's consent
# history, so the retention job may purge them (by creation) like idempotency records.
INDEXES = [
    Indexes(
        CONSENT_REQUESTS,
        [
            IndexModel([("driver_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("created_at", ASCENDING)]),
        ],
        purge_by="created_at",
    )
]


class ConsentRequestStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CONSENT_REQUESTS]

    async def insert(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, driver_id: str, request_id: str) -> Document | None:
        return await self.collection.find_one({"_id": request_id, "driver_id": driver_id})

    async def open_of(self, driver_id: str, now: datetime, limit: int) -> list[Document]:
        query = {"driver_id": driver_id, "kind": "request", "status": "pending"}
        cursor = self.collection.find({**query, "expires_at": {"$gt": now}})
        return [doc async for doc in cursor.sort("created_at", DESCENDING).limit(limit)]

    async def settle(
        self, match: Document, now: datetime, status: str, **recorded: Any
    ) -> Document | None:
        """Close an open request or code once (the first confirmation or use wins)."""
        return await self.collection.find_one_and_update(
            {**match, "status": {"$in": ["pending", "offered"]}, "expires_at": {"$gt": now}},
            {"$set": {"status": status, "decided_at": now, **recorded}},
            return_document=ReturnDocument.AFTER,
        )

    async def delete_of(self, driver_id: str) -> None:
        await self.collection.delete_many({"driver_id": driver_id})
