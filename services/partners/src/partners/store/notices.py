"""The ``webhook_notices`` collection: what the gateway owes partners' webhooks.

A notice's id says what it is about (``rejection:<id>``, ``linked:<ref>``,
``parked:<event id>``), so owing the same notice again, after a redelivery or from a second
instance, changes nothing: each is sent once. A sender claims a due notice under a lease.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

NOTICES = "webhook_notices"
INDEXES = [
    Indexes(
        NOTICES,
        (
            IndexModel([("state", 1), ("next_at", 1)], name="due"),
            IndexModel([("partner_id", 1), ("created_at", 1)], name="partner"),
        ),
    )
]


class NoticeStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[NOTICES]

    async def owe(self, notice_id: str, partner_id: str, body: Document, now: datetime) -> bool:
        """Owe one notice; True when it was not owed before."""
        try:
            await self.collection.insert_one(
                {
                    "_id": notice_id,
                    "partner_id": partner_id,
                    "kind": body["kind"],
                    "body": body,
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "next_at": now,
                }
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return False
        return True

    async def get(self, notice_id: str) -> Document | None:
        return await self.collection.find_one({"_id": notice_id})

    async def claim_due(
        self, now: datetime, lease: timedelta, *, skip: Collection[str] = ()
    ) -> Document | None:
        """A notice due now, of a partner not in ``skip``, held for ``lease`` by this sender."""
        due: Document = {"state": "pending", "next_at": {"$lte": now}}
        if skip:
            due["partner_id"] = {"$nin": list(skip)}
        return await self.collection.find_one_and_update(
            due,
            {"$set": {"next_at": now + lease}, "$inc": {"attempts": 1}},
            sort=[("next_at", 1)],
            return_document=ReturnDocument.AFTER,
        )

    async def done(self, notice_id: str, state: str, now: datetime) -> None:
        await self.collection.update_one(
            {"_id": notice_id, "state": "pending"},
            {"$set": {"state": state, "done_at": now}},
        )

    async def later(self, notice_id: str, at: datetime, error: str) -> None:
        await self.collection.update_one(
            {"_id": notice_id, "state": "pending"},
            {"$set": {"next_at": at, "last_error": error}},
        )
