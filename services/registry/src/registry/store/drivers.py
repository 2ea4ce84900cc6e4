"""The ``drivers`` collection: one document per driver, with its outbox."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key
from registry.domain import Driver

Document = dict[str, Any]

DRIVERS = "drivers"

INDEXES = [
    Indexes(
        DRIVERS,
        (
            IndexModel([("national_id.hash", 1)], unique=True, name="national_id_hash_unique"),
            IndexModel([("phone.hash", 1)], name="phone_hash"),
            IndexModel([("plate", 1)], name="plate"),
            IndexModel([("fleet", 1)], name="fleet"),
        ),
    )
]


def _to_doc(driver: Driver) -> Document:
    doc = driver.model_dump(mode="python")
    doc["_id"] = doc.pop("driver_id")
    return doc


def _from_doc(doc: Document) -> Driver:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "outbox")}
    return Driver.model_validate({**fields, "driver_id": doc["_id"]})


class DriverStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DRIVERS]

    async def insert_new(self, driver: Driver, outbox: list[Document]) -> bool:
        """Insert with its pending events; False when the national ID is already registered."""
        try:
            await self.collection.insert_one({**_to_doc(driver), "outbox": outbox})
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def by_id(self, driver_id: str) -> Driver | None:
        doc = await self.collection.find_one({"_id": driver_id})
        return _from_doc(doc) if doc else None

    async def by_national_id_hash(self, digest: str) -> Driver | None:
        doc = await self.collection.find_one({"national_id.hash": digest})
        return _from_doc(doc) if doc else None
