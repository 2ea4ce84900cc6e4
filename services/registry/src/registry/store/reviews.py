"""The ``reviews`` collection: disagreeing data kept for an operator's decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from registry.oversight import Review, ReviewStatus

Document = dict[str, Any]

REVIEWS = "reviews"
# Who is applying a decision to an open review, until when (store.reviews.take).
TAKING = "taking"

INDEXES = [
    Indexes(
        REVIEWS,
        (
            IndexModel([("status", 1), ("_id", 1)], name="status"),
            IndexModel([("driver_id", 1)], name="driver"),
        ),
    )
]


def _from_doc(doc: Document) -> Review:
    return Review.model_validate(
        {**{k: v for k, v in doc.items() if k != "_id"}, "review_id": doc["_id"]}
    )


class ReviewStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[REVIEWS]

    async def add(self, review: Review) -> bool:
        """Idempotent on the review id (derived from its cause); False when already there."""
        doc = review.model_dump(mode="python", exclude_none=True)
        doc["_id"] = doc.pop("review_id")
        return await insert_once(self.collection, doc)

    async def get(self, review_id: str) -> Review | None:
        doc = await self.collection.find_one({"_id": review_id})
        return _from_doc(doc) if doc else None

    async def page(
        self,
        *,
        status: ReviewStatus | None,
        driver_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Review]:
        query: Document = {}
        if status:
            query["status"] = status
        if driver_id:
            query["driver_id"] = driver_id
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def take(self, review_id: str, by: str, now: datetime, lease: timedelta) -> bool:
        """Hold an open review for ``by`` while their decision is applied; False when another
        person holds it (or it was resolved). A hold a crash left lapses after ``lease``."""
        result = await self.collection.update_one(
            {
                "_id": review_id,
                "status": "open",
                "$or": [{TAKING: None}, {f"{TAKING}.until": {"$lt": now}}],
            },
            {"$set": {TAKING: {"by": by, "until": now + lease}}},
        )
        return result.modified_count == 1

    async def let_go(self, review_id: str, by: str) -> None:
        await self.collection.update_one(
            {"_id": review_id, f"{TAKING}.by": by}, {"$unset": {TAKING: ""}}
        )

    async def resolve(self, review_id: str, status: ReviewStatus, by: str, at: datetime) -> bool:
        """Close a review the resolver holds (:meth:`take`)."""
        result = await self.collection.update_one(
            {"_id": review_id, "status": "open", f"{TAKING}.by": by},
            {
                "$set": {"status": status, "resolved_by": by, "resolved_at": at},
                "$unset": {TAKING: ""},
            },
        )
        return result.modified_count == 1

    async def forget_driver(self, driver_id: str) -> int:
        result = await self.collection.delete_many({"driver_id": driver_id})
        return result.deleted_count
