"""The ``dossiers`` collection: one file per driver with the named care broker."""

from __future__ import annotations

from dataclasses import dataclass
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
# The driver's open cases, id -> {category, opened_at}: intake finds duplicate candidates in the
# dossier it writes anyway, without reading the cases (issue 19: one store round trip of three).
# Kept by the transitions that open or finish a case. Trusted only where OPEN_LISTED is true:
# a dossier from before it was kept is filled once from the cases (see :meth:`list_open`).
OPEN_CASES = "open_cases"
OPEN_LISTED = "open_listed"
# Ids named in one query by `$in` (a broker's drivers, their cases): bounded command sizes.
IDS_PER_QUERY = 1000


def open_summary(category: str, opened_at: datetime, version: int | None = None) -> Document:
    """What a dossier keeps of an open case: what a duplicate is recognised by; ``version``:
    the case's version the listing opened it at (a reopened case), so that the unlisting of an
    older finish leaves it listed."""
    summary: Document = {"category": category, "opened_at": opened_at}
    if version is not None:
        summary["v"] = version
    return summary


@dataclass(frozen=True)
class Listing:
    """A dossier's cases as they were before a new one was filed."""

    case_ids: list[str] | None  # None: a dossier from before dossiers listed cases
    open_cases: dict[str, Document] | None  # None: from before dossiers kept the open ones
    broker_id: str | None = None  # the care broker the driver was named to


INDEXES = [Indexes(DOSSIERS, (IndexModel([("broker_id", 1), ("_id", 1)], name="broker"),))]


class DossierStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DOSSIERS]

    async def open(self, driver_id: str, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": driver_id},
            {
                "$setOnInsert": {
                    "broker_id": None,
                    "opened_at": at,
                    "brokers": [],
                    CASE_IDS: [],
                    OPEN_CASES: {},
                    OPEN_LISTED: True,
                }
            },
            upsert=True,
        )

    async def file_case(
        self, driver_id: str, case_id: str, at: datetime, summary: Document
    ) -> Listing:
        """Open the driver's dossier if need be and list a new open case in it, with its
        ``summary`` (category, opened_at). Returns the cases listed before."""
        before = await self.collection.find_one_and_update(
            {"_id": driver_id},
            {
                "$setOnInsert": {
                    "broker_id": None,
                    "opened_at": at,
                    "brokers": [],
                    OPEN_LISTED: True,
                },
                "$addToSet": {CASE_IDS: case_id},
                "$set": {f"{OPEN_CASES}.{case_id}": summary},
            },
            projection={CASE_IDS: 1, OPEN_CASES: 1, OPEN_LISTED: 1, "broker_id": 1},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return Listing([], {})
        listed = before.get(CASE_IDS)
        open_cases = before.get(OPEN_CASES) or {}
        broker = before.get("broker_id")
        return Listing(
            None if listed is None else list(listed),
            dict(open_cases) if before.get(OPEN_LISTED) and listed is not None else None,
            broker if isinstance(broker, str) else None,
        )

    async def list_cases(self, driver_id: str, case_ids: list[str]) -> None:
        if case_ids:
            await self.collection.update_one(
                {"_id": driver_id}, {"$addToSet": {CASE_IDS: {"$each": case_ids}}}
            )

    async def list_open(self, driver_id: str, open_cases: dict[str, Document]) -> None:
        """Fill a dossier from before open cases were kept with those found open, once."""
        fields: Document = {f"{OPEN_CASES}.{case_id}": s for case_id, s in open_cases.items()}
        await self.collection.update_one(
            {"_id": driver_id}, {"$set": {**fields, OPEN_LISTED: True}}
        )

    async def case_open(self, driver_id: str, case_id: str, summary: Document) -> None:
        """A finished case opens again (reopened, objection upheld, unmerged, ...)."""
        await self.collection.update_one(
            {"_id": driver_id}, {"$set": {f"{OPEN_CASES}.{case_id}": summary}}
        )

    async def case_finished(self, driver_id: str, case_id: str, version: int) -> None:
        """Unlist a case finished at ``version``, unless a later reopening listed it again."""
        await self.collection.update_one(
            {"_id": driver_id, **_not_after(f"{OPEN_CASES}.{case_id}.v", version)},
            {"$unset": {f"{OPEN_CASES}.{case_id}": ""}},
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

    async def drivers_of(self, broker_id: str) -> list[str]:
        """The drivers whose dossier names the broker, by a read of every dossier on the local
        store: only to fill a roster from before rosters were kept, once."""
        cursor = self.collection.find({"broker_id": broker_id}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def brokered_among(self, broker_id: str, driver_ids: list[str]) -> list[Document]:
        """Of these drivers' dossiers, those naming the broker now, with their listed cases."""
        found: list[Document] = []
        for at in range(0, len(driver_ids), IDS_PER_QUERY):
            cursor = self.collection.find(
                {"_id": {"$in": driver_ids[at : at + IDS_PER_QUERY]}, "broker_id": broker_id},
                {CASE_IDS: 1},
            )
            found += [doc async for doc in cursor]
        return found

    async def get(self, driver_id: str) -> Document | None:
        return await self.collection.find_one({"_id": driver_id})

    async def forget(self, driver_id: str) -> None:
        await self.collection.delete_one({"_id": driver_id})


def _not_after(field: str, version: int) -> Document:
    # A listing without a version (made at intake) is older than any finish.
    return {"$or": [{field: {"$lte": version}}, {field: None}]}
