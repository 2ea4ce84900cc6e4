"""The ``units`` collection: the registry's organisation and grid trees as notify learns them
from ``organisation.placed.v1`` and ``grid.placed.v1`` (never by asking the registry), so a
broadcast can reach a whole subtree."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, follow_newer

Document = dict[str, Any]
UnitKind = Literal["grid", "organisation"]

UNITS = "units"
INDEXES = [Indexes(UNITS, [IndexModel([("kind", ASCENDING), ("ancestor_ids", ASCENDING)])])]


class UnitTree:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[UNITS]

    async def place(
        self, kind: UnitKind, unit_id: str, ancestor_ids: list[str], at: datetime
    ) -> None:
        """The unit placed under ``ancestor_ids`` at ``at`` (the event's time), unless a newer
        placement is known: a dead letter replayed after a move, landing at the end of the
        topic, must not put the unit back under its old parent."""
        await follow_newer(
            self.collection,
            f"{kind}:{unit_id}",
            {"placement": {"kind": kind, "unit_id": unit_id, "ancestor_ids": ancestor_ids}},
            at,
            upsert=True,
        )

    async def under(self, kind: UnitKind, root_id: str) -> list[str]:
        """The root and every unit notify knows below it."""
        cursor = self.collection.find({"kind": kind, "ancestor_ids": root_id}, {"unit_id": 1})
        return [root_id, *[doc["unit_id"] async for doc in cursor]]
