"""The ``grids`` collection: the residence-based management units drivers are assigned to."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from registry.groups import Grid, GridLevel
from registry.store.tree import subtree_ids, subtree_query

Document = dict[str, Any]

GRIDS = "grids"

# A station's census assignment is looked up on every station census call.
INDEXES = [
    Indexes(
        GRIDS,
        [
            IndexModel([("station_id", ASCENDING)]),
            IndexModel([("ancestor_ids", ASCENDING), ("_id", ASCENDING)], name="subtree"),
        ],
    )
]


def _from_doc(doc: Document) -> Grid:
    return Grid.model_validate(
        {**{k: v for k, v in doc.items() if k not in ("_id", "outbox")}, "grid_id": doc["_id"]}
    )


def _to_doc(grid: Grid) -> Document:
    doc = grid.model_dump(mode="python", exclude_none=True)
    doc["_id"] = doc.pop("grid_id")
    return doc


class GridStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[GRIDS]

    async def insert(self, grid: Grid, outbox: list[Document] | None = None) -> None:
        doc = _to_doc(grid)
        if outbox:
            doc["outbox"] = outbox
        await self.collection.insert_one(doc)

    async def raw(self, grid_id: str) -> Document | None:
        return await self.collection.find_one({"_id": grid_id}, {"outbox": 0})

    async def subtree(
        self, root_id: str, *, level: GridLevel | None, after: str | None, limit: int
    ) -> list[Grid]:
        query: Document = subtree_query(root_id)
        if level:
            query["level"] = level
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def subtree_ids(self, root_id: str) -> list[str]:
        return await subtree_ids(self.collection, root_id)

    async def count_by_level(self, root_id: str | None = None) -> dict[str, int]:
        query: Document = subtree_query(root_id) if root_id else {}
        counts: dict[str, int] = {}
        async for doc in self.collection.find(query, {"level": 1}):
            level = doc.get("level") or "unleveled"
            counts[level] = counts.get(level, 0) + 1
        return counts

    async def insert_many_raw(self, grids: list[Grid]) -> None:
        await self.collection.insert_many([_to_doc(g) for g in grids], ordered=False)

    async def get(self, grid_id: str) -> Grid | None:
        doc = await self.collection.find_one({"_id": grid_id})
        return _from_doc(doc) if doc else None

    async def set_station(self, grid_id: str, station_id: str | None) -> bool:
        change = (
            {"$set": {"station_id": station_id}} if station_id else {"$unset": {"station_id": ""}}
        )
        result = await self.collection.update_one({"_id": grid_id}, change)
        return result.matched_count == 1

    async def ids_of_station(self, station_id: str) -> list[str]:
        return [
            doc["_id"] async for doc in self.collection.find({"station_id": station_id}, {"_id": 1})
        ]

    async def page(self, *, after: str | None, limit: int) -> list[Grid]:
        query: Document = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]
