"""The ``tree_moves`` collection: one journal document per tree (``organisations``, ``grids``)
holding the move under way, so a move a crash interrupted is finished at start-up.

The document is the tree's move lock and its intent record at once: ``state`` is ``idle``,
``claimed`` (a request is checking the move: no plan yet) or ``moving`` (the plan is written
and is being applied). ``seq`` grows by one per claim and numbers the move; every change after
the claim is guarded by it, so a process that lost its claim can no longer change anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]

TREE_MOVES = "tree_moves"
PLAN_FIELDS = ("move_id", "node_id", "parent_id", "ancestor_ids", "previous_parent_id", "at")


class MoveJournal:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[TREE_MOVES]

    async def claim(self, tree: str, owner: str, now: datetime) -> int | None:
        """The new move's number when the tree had no move under way; None otherwise."""
        await self.collection.update_one(
            {"_id": tree}, {"$setOnInsert": {"state": "idle", "seq": 0}}, upsert=True
        )
        claimed = await self.collection.find_one_and_update(
            {"_id": tree, "state": "idle"},
            {"$set": {"state": "claimed", "owner": owner, "claimed_at": now}, "$inc": {"seq": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return int(claimed["seq"]) if claimed else None

    async def current(self, tree: str) -> Document | None:
        return await self.collection.find_one({"_id": tree, "state": {"$ne": "idle"}})

    async def plan(self, tree: str, seq: int, plan: Document) -> bool:
        """Write the checked plan; False when the claim was lost meanwhile."""
        written = await self.collection.update_one(
            {"_id": tree, "seq": seq, "state": "claimed"},
            {"$set": {"state": "moving", **plan}},
        )
        return written.modified_count == 1

    async def release(self, tree: str, seq: int) -> None:
        await self.collection.update_one(
            {"_id": tree, "seq": seq},
            {"$set": {"state": "idle"}, "$unset": dict.fromkeys((*PLAN_FIELDS, "owner"), "")},
        )
