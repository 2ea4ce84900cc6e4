"""The ``lifecycle_versions`` collection: one document per catalogue version, ``_id`` its number.

A new version is inserted with the next number, so two operators changing the catalogue at
once cannot both win: the second insert finds the number taken and is refused. The event
announcing the version is in the document's outbox.
"""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, insert_once
from common.outbox import OUTBOX_HIDDEN, outbox_fields
from stations.lifecycle import CatalogueVersion

Document = dict[str, Any]

VERSIONS = "lifecycle_versions"
INDEXES = [Indexes(VERSIONS)]


def _from_doc(doc: Document) -> CatalogueVersion:
    fields = {k: v for k, v in doc.items() if k not in ("_id", *OUTBOX_HIDDEN)}
    return CatalogueVersion.model_validate({**fields, "version": doc["_id"]})


class LifecycleStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[VERSIONS]

    async def latest(self) -> CatalogueVersion | None:
        doc = await self.collection.find_one({}, OUTBOX_HIDDEN, sort=[("_id", DESCENDING)])
        return _from_doc(doc) if doc else None

    async def get(self, version: int) -> CatalogueVersion | None:
        doc = await self.collection.find_one({"_id": version}, OUTBOX_HIDDEN)
        return _from_doc(doc) if doc else None

    async def summaries(self, limit: int) -> list[Document]:
        cursor = self.collection.find(
            {}, {"content": 0, **OUTBOX_HIDDEN}, sort=[("_id", DESCENDING)], limit=limit
        )
        return [doc async for doc in cursor]

    async def insert(self, version: CatalogueVersion, outbox: list[Document]) -> bool:
        """False when that version number exists already (another change won)."""
        doc = version.model_dump(mode="python", exclude={"version"})
        doc.update(_id=version.version, **outbox_fields(outbox))
        return await insert_once(self.collection, doc)
