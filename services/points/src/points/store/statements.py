"""The ``statements`` collection: every signed statement issued, kept as it was signed."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes

Document = dict[str, Any]

STATEMENTS = "statements"

INDEXES = [
    Indexes(
        STATEMENTS,
        (IndexModel([("driver_id", 1), ("created_at", DESCENDING)], name="driver_created"),),
    )
]


class StatementStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[STATEMENTS]

    async def insert(self, doc: Document) -> None:
        await self.collection.insert_one(doc)

    async def get(self, statement_id: str) -> Document | None:
        return await self.collection.find_one({"_id": statement_id})

    async def for_driver(self, driver_id: str, limit: int) -> list[Document]:
        cursor = (
            self.collection.find({"driver_id": driver_id})
            .sort("created_at", DESCENDING)
            .limit(limit)
        )
        return [doc async for doc in cursor]
