"""The ``cases`` collection: one document per case, with its clocks, history and outbox.

Every transition is one ``update_one`` whose filter pins the status and the version read, so
of two concurrent changes exactly one applies and the other finds nothing to update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from cases.case import Case
from cases.domain import ACTIVE, FINISHED
from cases.store.dossiers import IDS_PER_QUERY, open_summary
from common.mongo import Indexes
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]

CASES = "cases"

INDEXES = [
    Indexes(
        CASES,
        (
            IndexModel([("driver_id", 1), ("opened_at", -1)], name="driver"),
            IndexModel([("next_check", 1)], name="next_check", sparse=True),
            IndexModel([("unit_ids", 1), ("opened_at", -1)], name="units"),
            IndexModel([("station_id", 1), ("opened_at", -1)], name="station"),
            IndexModel([("status", 1), ("opened_at", -1)], name="status"),
            IndexModel([("respondent.id", 1)], name="respondent", sparse=True),
            IndexModel([("month", 1)], name="month"),
            IndexModel([("collective_id", 1)], name="collective", sparse=True),
            IndexModel([("clock_years", 1)], name="clock_years", sparse=True),
        ),
        # The pinned writes' filters ({_id, status, version}, {_id, version}, the breach scan's
        # {_id, version, next_check}) are found by _id, on MongoDB and on the local store
        # alike; these unique copies of _id served them there before it could.
        retired=("pinned", "id_version", "scan_pinned"),
    )
]

# What the duplicate sift reads of a driver's earlier cases.
SUMMARY = {"category": 1, "status": 1, "opened_at": 1}


# A value no id, driver or unit has: the filter of a caller who may list nothing.
NOBODY = "\x00"


@dataclass(frozen=True)
class CaseListing:
    """Which cases to list: equal on each field given; ``nothing`` lists none at all."""

    driver_id: str | None = None
    station_id: str | None = None
    respondent_id: str | None = None
    unit_id: str | None = None
    status: str | None = None
    nothing: bool = False
    # The drivers of a district unit (issue 16); narrows whatever else is given.
    driver_ids: list[str] | None = None

    def query(self) -> Document:
        query: Document = {"_id": NOBODY} if self.nothing else {}
        if self.driver_ids is not None:
            query["$and"] = [{"driver_id": {"$in": self.driver_ids}}]
        for path, value in (
            ("driver_id", self.driver_id),
            ("station_id", self.station_id),
            ("respondent.id", self.respondent_id),
            ("unit_ids", self.unit_id),
            ("status", self.status),
        ):
            if value is not None:
                query[path] = value
        return query


@dataclass(frozen=True)
class FigureCohort:
    """The cases a figure counts: every case but withdrawn and merged ones, narrowed by these."""

    month: str | None = None
    unit_id: str | None = None
    category: str | None = None


class CaseStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CASES]

    async def insert(self, case: Case) -> None:
        await self.collection.insert_one(case.doc)

    async def get(self, case_id: str) -> Case | None:
        doc = await self.collection.find_one({"_id": case_id}, OUTBOX_HIDDEN)
        return Case.of(doc) if doc is not None else None

    async def transition(
        self,
        case_id: str,
        *,
        status: str,
        version: int,
        set_fields: Document,
        append: Document,
        outbox: Document,
        add_units: list[str] | None = None,
    ) -> bool:
        """One step of the state table: ``append`` pushes one value onto each named list, and
        ``outbox`` is the event announcing it."""
        update = push_outbox({"$set": set_fields, "$inc": {"version": 1}, "$push": append}, outbox)
        if add_units:
            update["$addToSet"] = {"unit_ids": {"$each": add_units}}
        result = await self.collection.update_one(
            {"_id": case_id, "status": status, "version": version}, update
        )
        return result.modified_count == 1

    async def claim_merge_target(self, target_id: str, *, version: int, absorbed_id: str) -> bool:
        """Note on an open target that ``absorbed_id`` merges into it, pinned to its version."""
        result = await self.collection.update_one(
            {"_id": target_id, "version": version, "status": {"$in": sorted(ACTIVE)}},
            {"$addToSet": {"absorbed": absorbed_id}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def release_merge_target(self, target_id: str, absorbed_id: str) -> None:
        await self.collection.update_one({"_id": target_id}, {"$pull": {"absorbed": absorbed_id}})

    async def update_pinned(
        self,
        case_id: str,
        *,
        status: str,
        version: int,
        set_fields: Document,
        append: Document | None = None,
        outbox: Document | None = None,
    ) -> bool:
        """A change outside the state table (an extension), pinned to the status and version."""
        update: Document = {"$set": set_fields, "$inc": {"version": 1}}
        if append:
            update["$push"] = append
        update = push_outbox(update, [outbox] if outbox is not None else [])
        result = await self.collection.update_one(
            {"_id": case_id, "status": status, "version": version}, update
        )
        return result.modified_count == 1

    async def set_consent(self, case_id: str, reveal: bool) -> None:
        await self.collection.update_one(
            {"_id": case_id}, {"$set": {"identity_consent": reveal}, "$inc": {"version": 1}}
        )

    async def grant_compensation(
        self, case_id: str, *, version: int, record: Document, outbox: Document
    ) -> bool:
        """Record a compensation and its event once: the filter refuses a second with its id."""
        result = await self.collection.update_one(
            {"_id": case_id, "version": version, "compensations.id": {"$ne": record["id"]}},
            push_outbox({"$push": {"compensations": record}, "$inc": {"version": 1}}, outbox),
        )
        return result.modified_count == 1

    async def erase_personal_data(self, driver_id: str) -> None:
        """Personal data goes; the cases stay as pseudonymous records for the figures."""
        await self.collection.update_many(
            {"driver_id": driver_id},
            {"$set": {"description": "", "attachments": [], "respondent": None}},
        )

    async def mark_compensation_applied(self, case_id: str, record: Document) -> bool:
        """Push ``record`` unless a record with its id is there already (idempotent)."""
        result = await self.collection.update_one(
            {"_id": case_id, "compensations_applied.id": {"$ne": record["id"]}},
            {"$push": {"compensations_applied": record}},
        )
        return result.modified_count == 1

    async def link_collective(self, case_id: str, collective_id: str) -> bool:
        """Put one case in a collective unless it is in another one already.

        Touches neither status, clocks nor version: linking is not a transition.
        """
        result = await self.collection.update_one(
            {"_id": case_id, "collective_id": {"$in": [None, collective_id]}},
            {"$set": {"collective_id": collective_id}},
        )
        return result.matched_count == 1

    async def unlink_collective(self, case_id: str, collective_id: str) -> bool:
        result = await self.collection.update_one(
            {"_id": case_id, "collective_id": collective_id}, {"$set": {"collective_id": None}}
        )
        return result.modified_count == 1

    async def listed(
        self, listing: CaseListing, *, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Case]:
        """A page of cases, newest first, after the ``(opened_at, id)`` the last page ended at."""
        return [Case.of(doc) for doc in await self._find(listing.query(), limit=limit, after=after)]

    async def open_among(self, case_ids: list[str]) -> dict[str, Document]:
        """Of these cases (a driver's, from the dossier), the open ones' category and opening
        time. Asked for by ``_id`` alone and sifted here, because any other field in the filter
        makes the local store read every case (seconds per intake at a district's 100,000)."""
        if not case_ids:
            return {}
        return {
            doc["_id"]: open_summary(doc.get("category", ""), doc["opened_at"])
            for doc in await self.summaries(case_ids)
            if doc.get("status") in ACTIVE
        }

    async def summaries(self, case_ids: list[str]) -> list[Document]:
        """These cases' id, category, status and opening time, by ``_id`` alone."""
        cursor = self.collection.find({"_id": {"$in": case_ids}}, SUMMARY)
        return [doc async for doc in cursor]

    async def ids_of_driver(self, driver_id: str) -> list[str]:
        """Every case of a driver, by a scan on the local store: only for a dossier kept from
        before dossiers listed their cases, once."""
        cursor = self.collection.find({"driver_id": driver_id}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def get_many(self, case_ids: list[str]) -> list[Case]:
        docs = await self._find({"_id": {"$in": case_ids}}, limit=len(case_ids))
        return [Case.of(doc) for doc in docs]

    async def in_collective(self, collective_id: str, *, limit: int) -> list[Case]:
        docs = await self._find({"collective_id": collective_id}, limit=limit)
        return [Case.of(doc) for doc in docs]

    async def of_driver(self, driver_id: str, *, limit: int) -> list[Case]:
        return [Case.of(doc) for doc in await self._find({"driver_id": driver_id}, limit=limit)]

    async def count_open_of(self, driver_ids: list[str]) -> int:
        """Unfinished cases of these drivers, by a read of every case on the local store: only
        for dossiers from before they listed their cases."""
        return await self.collection.count_documents(
            {"driver_id": {"$in": driver_ids}, "status": {"$nin": sorted(FINISHED)}}
        )

    async def count_unfinished_among(self, case_ids: list[str]) -> int:
        """How many of these cases are not finished, read by ``_id``."""
        count = 0
        for at in range(0, len(case_ids), IDS_PER_QUERY):
            query = {
                "_id": {"$in": case_ids[at : at + IDS_PER_QUERY]},
                "status": {"$nin": sorted(FINISHED)},
            }
            count += len(await self.collection.find(query, {"_id": 1}).to_list())
        return count

    async def _find(
        self, query: Document, *, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Document]:
        if after is not None:
            at, case_id = after
            query = {
                "$and": [
                    query,
                    {
                        "$or": [
                            {"opened_at": {"$lt": at}},
                            {"opened_at": at, "_id": {"$lt": case_id}},
                        ]
                    },
                ]
            }
        cursor = (
            self.collection.find(query, {**OUTBOX_HIDDEN, "history": 0})
            .sort([("opened_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def for_figures(self, cohort: FigureCohort) -> list[Document]:
        query: Document = {"status": {"$nin": ["withdrawn", "merged"]}}
        if cohort.month:
            query["month"] = cohort.month
        if cohort.unit_id:
            query["lead_unit_id"] = cohort.unit_id
        if cohort.category:
            query["category"] = cohort.category
        projection = {
            "status": 1,
            "category": 1,
            "kind": 1,
            "lead_unit_id": 1,
            "month": 1,
            "clocks": 1,
            "round": 1,
            "revisits": 1,
            "exempt": 1,
            "resolved_at": 1,
            "collective_id": 1,
        }
        return [doc async for doc in self.collection.find(query, projection)]
