"""三亮三比 commitments (cases.commitments): one document per driver, organisation and period
(a unique index says so; the id is random), with its notes, the self-assessment, the
evaluation and its outbox."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from common.outbox import OUTBOX_HIDDEN

Document = dict[str, Any]

COMMITMENTS = "commitments"
INDEXES = [
    Indexes(
        COMMITMENTS,
        (
            IndexModel([("organisation_id", 1), ("period", 1), ("_id", 1)], name="public_list"),
            IndexModel([("driver_id", 1)], name="driver"),
            IndexModel(
                [("driver_id", 1), ("organisation_id", 1), ("period", 1)],
                unique=True,
                name="one_per_period",
            ),
        ),
    )
]
# What the public list shows: never the driver id, the notes' authors or the outbox.
PUBLIC = {
    "display_name": 1,
    "organisation_id": 1,
    "period": 1,
    "pledges": 1,
    "state": 1,
    "published_at": 1,
    "self_assessment.scores": 1,
    "evaluation.scores": 1,
    "evaluation.grade": 1,
}


class CommitmentStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[COMMITMENTS]

    async def insert(self, doc: Document) -> bool:
        return await insert_once(self.collection, doc)

    async def get(self, commitment_id: str) -> Document | None:
        return await self.collection.find_one({"_id": commitment_id}, OUTBOX_HIDDEN)

    async def change(self, commitment_id: str, expect: Document, update: Document) -> bool:
        """One conditional update (the state it must still be in); False when it was not."""
        done = await self.collection.update_one({"_id": commitment_id, **expect}, update)
        return done.matched_count == 1

    async def public(self, organisation_id: str, period: str, limit: int) -> list[Document]:
        cursor = (
            self.collection.find({"organisation_id": organisation_id, "period": period}, PUBLIC)
            .sort([("_id", ASCENDING)])
            .limit(limit)
        )
        return await cursor.to_list()
