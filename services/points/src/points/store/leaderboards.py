"""Monthly standings read from the ``accounts`` collection (``earned.<month>``, fleet, grid)."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from points.store.accounts import ACCOUNTS

Document = dict[str, Any]


class Standings:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ACCOUNTS]

    async def top(self, group: str, value: str, month: str, limit: int) -> list[tuple[str, int]]:
        """Active accounts of a fleet or grid by points earned in ``month``, most first."""
        field = f"earned.{month}"
        cursor = (
            self.collection.find(
                {group: value, "status": "active", field: {"$gt": 0}},
                {"_id": 1, field: 1},
            )
            .sort([(field, DESCENDING), ("_id", 1)])
            .limit(limit)
        )
        return [(str(doc["_id"]), int(doc["earned"][month])) async for doc in cursor]
