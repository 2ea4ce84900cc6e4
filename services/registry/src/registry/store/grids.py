"""The ``grids`` collection: the residence-based management units drivers are assigned to."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from registry.groups import Grid, GridLevel
from registry.store.tree import subtree_query
from registry.store.tree_nodes import NodeStore

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


class GridStore(NodeStore[Grid]):
    model = Grid
    id_field = "grid_id"

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        super().__init__(db[GRIDS])

    async def subtree(
        self, root_id: str, *, level: GridLevel | None, after: str | None, limit: int
    ) -> list[Grid]:
        query: Document = subtree_query(root_id)
        if level:
            query["level"] = level
        return await self.find_page(query, after=after, limit=limit)

    async def count_by_level(self, root_id: str | None = None) -> dict[str, int]:
        return await self.count_by("level", root_id, missing="unleveled")

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
        return await self.find_page({}, after=after, limit=limit)
