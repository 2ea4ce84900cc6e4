"""The ``dossiers`` collection: one file per driver with the named care broker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from cases.domain import CaseNotFound
from common.mongo import Indexes

Document = dict[str, Any]

DOSSIERS = "dossiers"
# The driver's cases, by id: intake's duplicate lookup reads them by ``_id`` instead of asking
# the store for the driver's cases, which the local store answers by reading every case.
CASE_IDS = "case_ids"

INDEXES = [Indexes(DOSSIERS, (IndexModel([("broker_id", 1), ("_id", 1)], name="broker"),))]


class DossierStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DOSSIERS]

    async def open(self, driver_id: str, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": driver_id},
            {"$setOnInsert": {"broker_id": None, "opened_at": at, "brokers": [], CASE_IDS: []}},
            upsert=True,
        )

    async def file_case(self, driver_id: str, case_id: str, at: datetime) -> list[str] | None:
        """Open the driver's dossier if need be and list a new case in it. Returns the cases it
        listed before, or None for a dossier kept from before dossiers listed them (the caller
        finds those once with a scan and lists them: :meth:`list_cases`)."""
        before = await self.collection.find_one_and_update(
            {"_id": driver_id},
            {
                "$setOnInsert": {"broker_id": None, "opened_at": at, "brokers": []},
                "$addToSet": {CASE_IDS: case_id},
            },
            projection={CASE_IDS: 1},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return []
        listed = before.get(CASE_IDS)
        return None if listed is None else list(listed)

    async def list_cases(self, driver_id: str, case_ids: list[str]) -> None:
        if case_ids:
            await self.collection.update_one(
                {"_id": driver_id}, {"$addToSet": {CASE_IDS: {"$each": case_ids}}}
            )

    async def assign(self, driver_id: str, broker_id: str, at: datetime, by: str) -> Document:
        await self.open(driver_id, at)
        await self.collection.update_one(
            {"_id": driver_id},
            {
                "$set": {"broker_id": broker_id, "broker_since": at},
                "$push": {"brokers": {"broker_id": broker_id, "from": at, "by": by}},
            },
        )
        doc = await self.get(driver_id)
        if doc is None:  # deleted between the write and this read
            raise CaseNotFound("no dossier for this driver")
        return doc

    async def get(self, driver_id: str) -> Document | None:
        return await self.collection.find_one({"_id": driver_id})

    async def drivers_of(self, broker_id: str) -> list[str]:
        cursor = self.collection.find({"broker_id": broker_id}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def forget(self, driver_id: str) -> None:
        await self.collection.delete_one({"_id": driver_id})
