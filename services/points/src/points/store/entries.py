"""The ``ledger`` collection: append-only entries, each its own outbox record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from points.domain import Entry

Document = dict[str, Any]

LEDGER = "ledger"

INDEXES = [
    Indexes(
        LEDGER,
        (
            IndexModel([("driver_id", 1), ("seq", DESCENDING)], name="driver_seq"),
            IndexModel([("driver_id", 1), ("occurred_at", 1)], name="driver_occurred"),
            IndexModel([("state", 1), ("created_at", 1)], name="state_created"),
            IndexModel([("published", 1)], name="published"),
            IndexModel([("reverses", 1)], name="reverses", sparse=True),
        ),
    )
]

_ENTRY_FIELDS = set(Entry.model_fields)


def entry_of(doc: Document) -> Entry:
    fields = {k: v for k, v in doc.items() if k in _ENTRY_FIELDS}
    return Entry.model_validate({**fields, "entry_id": doc["_id"]})


class EntryStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[LEDGER]

    async def insert(self, entry: Entry) -> Entry | None:
        """Insert a new pending entry; returns the existing one when the id is taken."""
        doc = entry.model_dump(mode="python")
        doc["_id"] = doc.pop("entry_id")
        doc["published"] = False
        if not await insert_once(self.collection, doc):
            return await self.get(entry.entry_id)
        return None

    async def get(self, entry_id: str) -> Entry | None:
        doc = await self.collection.find_one({"_id": entry_id})
        return entry_of(doc) if doc else None

    async def raw(self, entry_id: str) -> Document | None:
        return await self.collection.find_one({"_id": entry_id})

    async def mark_applied(
        self, entry_id: str, *, amount: int, seq: int, balance_after: int, applied_at: datetime
    ) -> None:
        """Applied and announced, in one write (the announcement went out just before)."""
        await self.collection.update_one(
            {"_id": entry_id, "state": "pending"},
            {
                "$set": {
                    "state": "applied",
                    "published": True,
                    "amount": amount,
                    "seq": seq,
                    "balance_after": balance_after,
                    "applied_at": applied_at,
                }
            },
        )

    async def mark_applied_many(self, applied: list[Document]) -> None:
        """:meth:`mark_applied` for many entries in one unordered bulk write; each item holds
        ``entry_id`` and the fields ``mark_applied`` takes."""
        if not applied:
            return
        await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": item["entry_id"], "state": "pending"},
                    {
                        "$set": {
                            "state": "applied",
                            "published": True,
                            "amount": item["amount"],
                            "seq": item["seq"],
                            "balance_after": item["balance_after"],
                            "applied_at": item["applied_at"],
                        }
                    },
                )
                for item in applied
            ],
            ordered=False,
        )

    async def mark_rejected(self, entry_id: str, reason: str) -> None:
        await self.collection.update_one(
            {"_id": entry_id, "state": "pending"},
            {"$set": {"state": "rejected", "detail.rejected": reason}},
        )

    async def mark_published(self, entry_id: str) -> None:
        await self.collection.update_one({"_id": entry_id}, {"$set": {"published": True}})

    async def history(self, driver_id: str, *, before_seq: int | None, limit: int) -> list[Entry]:
        query: Document = {"driver_id": driver_id, "state": "applied"}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        cursor = self.collection.find(query).sort("seq", DESCENDING).limit(limit)
        return [entry_of(doc) async for doc in cursor]

    async def applied_until(self, driver_id: str, moment: datetime) -> list[Entry]:
        cursor = self.collection.find(
            {"driver_id": driver_id, "state": "applied", "created_at": {"$lte": moment}}
        ).sort("seq", 1)
        return [entry_of(doc) async for doc in cursor]

    async def unfinished(self, older_than: datetime, limit: int = 200) -> list[Entry]:
        """Entries a crash left pending, or applied but not yet announced."""
        cursor = self.collection.find(
            {
                "$or": [{"state": "pending"}, {"state": "applied", "published": False}],
                "created_at": {"$lt": older_than},
            }
        ).limit(limit)
        return [entry_of(doc) async for doc in cursor]

    async def sum_applied(self, driver_id: str) -> int:
        pipeline: list[Document] = [
            {"$match": {"driver_id": driver_id, "state": "applied"}},
            {"$group": {"_id": "$driver_id", "total": {"$sum": "$amount"}}},
        ]
        async for row in await self.collection.aggregate(pipeline):
            return int(row["total"])
        return 0
