"""``feedback``: one rating per visit (its ``_id`` is the check-in id)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from stations.domain import Feedback, FeedbackExists

Document = dict[str, Any]

FEEDBACK = "feedback"
INDEXES = [
    Indexes(
        FEEDBACK,
        (IndexModel([("station_id", ASCENDING), ("created_at", DESCENDING)], name="station"),),
    )
]


class FeedbackStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[FEEDBACK]

    async def insert(self, feedback: Feedback) -> None:
        doc = feedback.model_dump(mode="python", exclude={"checkin_id"})
        if not await insert_once(self.collection, {**doc, "_id": feedback.checkin_id}):
            raise FeedbackExists("this visit has already been rated")

    async def summary(self, station_id: str) -> tuple[int, int]:
        """(count, sum of ratings) by plain aggregation."""
        rows = await (
            await self.collection.aggregate(
                [
                    {"$match": {"station_id": station_id}},
                    {"$group": {"_id": None, "n": {"$sum": 1}, "total": {"$sum": "$rating"}}},
                ]
            )
        ).to_list(None)
        if not rows:
            return 0, 0
        return int(rows[0]["n"]), int(rows[0]["total"])

    async def recent(self, station_id: str, limit: int) -> list[Feedback]:
        cursor = (
            self.collection.find({"station_id": station_id})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [Feedback.model_validate({**d, "checkin_id": d["_id"]}) async for d in cursor]
