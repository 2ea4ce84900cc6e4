"""The ``help_needs`` collection: the mutual-help board's needs, one document each.

Each change is one conditional update (the status it leaves in the filter) that also pushes its
event onto the document's ``outbox``; the relay publishes it afterwards (``common.outbox``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]

NEEDS = "help_needs"

INDEXES = [
    Indexes(
        NEEDS,
        (
            IndexModel([("status", 1), ("claim_by", 1)], name="board"),
            IndexModel([("driver_id", 1), ("posted_at", -1)], name="poster"),
            IndexModel([("helper.id", 1)], name="helper"),
        ),
    )
]


class NeedStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[NEEDS]

    async def insert(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, need_id: str) -> Document | None:
        return await self.collection.find_one({"_id": need_id}, OUTBOX_HIDDEN)

    async def move(
        self, need_id: str, source: str, fields: Document, event: Document, *, now: datetime
    ) -> Document | None:
        """``fields`` set if the need is still in ``source`` (open ones only before claim_by)."""
        query: Document = {"_id": need_id, "status": source}
        if source == "open":
            query["claim_by"] = {"$gt": now}
        return await self.collection.find_one_and_update(
            query,
            push_outbox({"$set": fields, "$inc": {"version": 1}}, event),
            projection=OUTBOX_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )

    async def board(
        self, *, now: datetime, area: str | None, category: str | None, limit: int
    ) -> list[Document]:
        query: Document = {"status": "open", "claim_by": {"$gt": now}}
        if area:
            query["area"] = area
        if category:
            query["category"] = category
        cursor = self.collection.find(query, OUTBOX_HIDDEN).sort("claim_by", 1).limit(limit)
        return [doc async for doc in cursor]

    async def mine(self, query: Document) -> list[Document]:
        """The newest 100 needs a caller posted or claimed (``query`` says whose)."""
        cursor = self.collection.find(query, OUTBOX_HIDDEN).sort("posted_at", -1).limit(100)
        return [doc async for doc in cursor]

    async def overdue(
        self, now: datetime, stalled_since: datetime, limit: int = 100
    ) -> list[Document]:
        """Open needs past their claim deadline, and handovers left without a case since
        ``stalled_since`` (a crash; younger ones may still be on their way on another instance)."""
        query: Document = {
            "$or": [
                {"status": "open", "claim_by": {"$lte": now}},
                {"status": "unclaimed", "case_id": None, "unclaimed_at": {"$lte": stalled_since}},
            ]
        }
        cursor = self.collection.find(query, OUTBOX_HIDDEN).limit(limit)
        return [doc async for doc in cursor]

    async def hand_over(self, need_id: str, now: datetime) -> bool:
        """Mark an overdue open need as the committee's; only one instance wins."""
        answer = await self.collection.update_one(
            {"_id": need_id, "status": "open", "claim_by": {"$lte": now}},
            {"$set": {"status": "unclaimed", "case_id": None, "unclaimed_at": now}},
        )
        return answer.modified_count == 1

    async def retake(self, need_id: str, since: datetime, now: datetime) -> bool:
        """Take a stalled handover up again; only one instance wins (compare-and-set)."""
        answer = await self.collection.update_one(
            {"_id": need_id, "status": "unclaimed", "case_id": None, "unclaimed_at": since},
            {"$set": {"unclaimed_at": now}},
        )
        return answer.modified_count == 1

    async def record_case(self, need_id: str, case_id: str, event: Document) -> None:
        await self.collection.update_one(
            {"_id": need_id, "status": "unclaimed", "case_id": None},
            push_outbox({"$set": {"case_id": case_id}, "$inc": {"version": 1}}, event),
        )
