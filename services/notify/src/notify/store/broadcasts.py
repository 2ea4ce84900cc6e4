"""The ``broadcasts`` collection (with its outbox of work items) and ``broadcast_batches``.

Resolving a segment walks the drivers in id order and, per page, records the cursor and pushes
the batch's work item in one update: a restart resumes after the last recorded page, and a
batch published twice is harmless because notifications have deterministic ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]

BROADCASTS = "broadcasts"
BATCHES = "broadcast_batches"

INDEXES = [
    Indexes(
        BROADCASTS,
        (
            IndexModel([("status", 1), ("scheduled_at", 1)], name="due"),
            IndexModel([("created_at", -1), ("_id", -1)], name="newest"),
        ),
    ),
    Indexes(BATCHES, (IndexModel([("broadcast_id", 1)], name="broadcast"),)),
]


class BroadcastStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[BROADCASTS]
        self.batches = db[BATCHES]

    async def insert(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, broadcast_id: str) -> Document | None:
        return await self.collection.find_one({"_id": broadcast_id}, OUTBOX_HIDDEN)

    async def newest(self, after: dict[str, Any] | None, limit: int) -> list[Document]:
        query: Document = {}
        if after is not None:
            at = datetime.fromisoformat(after["t"])
            query["$or"] = [
                {"created_at": {"$lt": at}},
                {"created_at": at, "_id": {"$lt": after["id"]}},
            ]
        cursor = (
            self.collection.find(query, OUTBOX_HIDDEN)
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return await cursor.to_list()

    async def due(self, now: datetime, limit: int) -> list[Document]:
        cursor = self.collection.find(
            {
                "status": {"$in": ["scheduled", "resolving"]},
                "scheduled_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
            },
            {"_id": 1},
        ).limit(limit)
        return await cursor.to_list()

    async def claim(
        self, broadcast_id: str, owner: str, now: datetime, until: datetime
    ) -> Document | None:
        return await self.collection.find_one_and_update(
            {
                "_id": broadcast_id,
                "status": {"$in": ["scheduled", "resolving"]},
                "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
            },
            {"$set": {"status": "resolving", "lease_owner": owner, "lease_until": until}},
            projection=OUTBOX_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )

    async def record_batch(
        self,
        broadcast_id: str,
        *,
        owner: str,
        batch_no: int,
        last_driver: str,
        size: int,
        until: datetime,
        work_item: Document,
    ) -> bool:
        """Advance the cursor by one page and queue its work item; False if the lease is lost."""
        result = await self.collection.update_one(
            {
                "_id": broadcast_id,
                "status": "resolving",
                "lease_owner": owner,
                "batches_enqueued": batch_no,
            },
            push_outbox(
                {
                    "$set": {"resolve_after": last_driver, "lease_until": until},
                    "$inc": {"batches_enqueued": 1, "targeted": size},
                },
                work_item,
            ),
        )
        return result.modified_count == 1

    async def resolved(self, broadcast_id: str, owner: str, at: datetime) -> bool:
        doc = await self.collection.find_one({"_id": broadcast_id}, {"batches_enqueued": 1})
        if doc is None:
            return False
        result = await self.collection.update_one(
            {"_id": broadcast_id, "lease_owner": owner, "status": "resolving"},
            {
                "$set": {
                    "status": "fanning_out",
                    "batches_total": doc.get("batches_enqueued", 0),
                    "resolved_at": at,
                    "lease_until": None,
                    "lease_owner": None,
                },
                # The cursor resumes a resolution only; kept, it would name its last driver.
                "$unset": {"resolve_after": ""},
            },
        )
        return result.modified_count == 1

    async def batch_done(
        self, broadcast_id: str, batch_no: int, counts: Document, at: datetime
    ) -> None:
        await insert_once(
            self.batches,
            {
                "_id": f"{broadcast_id}:{batch_no}",
                "broadcast_id": broadcast_id,
                "batch_no": batch_no,
                "counts": counts,
                "done_at": at,
            },
        )

    async def is_batch_done(self, broadcast_id: str, batch_no: int) -> bool:
        found = await self.batches.find_one({"_id": f"{broadcast_id}:{batch_no}"}, {"_id": 1})
        return found is not None

    async def batches_done(self, broadcast_id: str) -> int:
        return await self.batches.count_documents({"broadcast_id": broadcast_id})

    async def complete_if_done(self, broadcast_id: str, at: datetime) -> None:
        doc = await self.collection.find_one(
            {"_id": broadcast_id, "status": "fanning_out"}, {"batches_total": 1}
        )
        if doc is None:
            return
        if await self.batches_done(broadcast_id) >= int(doc.get("batches_total") or 0):
            await self.collection.update_one(
                {"_id": broadcast_id, "status": "fanning_out"},
                {"$set": {"status": "completed", "completed_at": at}},
            )

    async def expire(self, broadcast_id: str, owner: str) -> None:
        await self.collection.update_one(
            {"_id": broadcast_id, "lease_owner": owner}, {"$set": {"status": "expired"}}
        )

    async def cancel(self, broadcast_id: str, at: datetime) -> Document | None:
        return await self.collection.find_one_and_update(
            {"_id": broadcast_id, "status": {"$in": ["scheduled", "resolving", "fanning_out"]}},
            {"$set": {"status": "cancelled", "cancelled_at": at}},
            projection=OUTBOX_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )
