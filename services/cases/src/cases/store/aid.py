"""Aid applications (``aid_applications``) and the credit grades cases follows (``aid_grades``).

Each step of an application is one conditional update (the status it leaves in the filter)
that also pushes its event onto the document's ``outbox``; the relay publishes it afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.mongo import Indexes
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]

APPLICATIONS = "aid_applications"
GRADES = "aid_grades"
# Set while the application is under review (it is the driver and the kind): see ``one_open``.
OPEN_KEY = "open_key"

INDEXES = [
    Indexes(
        APPLICATIONS,
        (
            IndexModel([("driver_id", 1), ("applied_at", -1)], name="applicant"),
            IndexModel([("status", 1), ("applied_at", 1)], name="queue"),
            # One application per driver and kind under review: a driver applying in the app
            # while staff apply for them cannot open two (both could be granted).
            IndexModel([(OPEN_KEY, 1)], unique=True, sparse=True, name="one_open"),
        ),
    )
]
UNDER_REVIEW = ("submitted", "first_approved")


def open_key(driver_id: str, kind: str) -> str:
    return f"{driver_id}\x1f{kind}"


class AidStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[APPLICATIONS]
        self.grades = db[GRADES]

    async def insert(self, doc: Document) -> bool:
        """False when the driver has an application of this kind under review already."""
        try:
            await self.collection.insert_one(
                {**doc, OPEN_KEY: open_key(doc["driver_id"], doc["kind"])}
            )
        except DuplicateKeyError:
            return False
        return True

    async def get(self, application_id: str) -> Document | None:
        return await self.collection.find_one({"_id": application_id}, OUTBOX_HIDDEN)

    async def open_of(self, driver_id: str, kind: str) -> Document | None:
        """The driver's application of this kind still under review, if any."""
        query = {
            "driver_id": driver_id,
            "kind": kind,
            "status": {"$in": ["submitted", "first_approved"]},
        }
        return await self.collection.find_one(query, OUTBOX_HIDDEN)

    async def move(
        self,
        application_id: str,
        source: str,
        fields: Document,
        event: Document,
        *,
        by: str,
        version: int,
    ) -> Document | None:
        """``fields`` set if still in ``source`` at ``version`` (the record the fields were
        computed from: its reviews are rewritten whole) and not reviewed by ``by`` (four eyes)."""
        update: Document = {"$set": fields, "$inc": {"version": 1}}
        if fields.get("status") not in UNDER_REVIEW:
            update["$unset"] = {OPEN_KEY: ""}  # decided: the driver may apply again
        return await self.collection.find_one_and_update(
            {
                "_id": application_id,
                "status": source,
                "version": version,
                "reviews.by": {"$ne": by},
            },
            push_outbox(update, event),
            projection=OUTBOX_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )

    async def history(self, driver_id: str) -> list[Document]:
        cursor = self.collection.find({"driver_id": driver_id}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor.sort("applied_at", -1).limit(200)]

    async def queue(self, status: str | None, kind: str | None, limit: int = 100) -> list[Document]:
        query: Document = {}
        if status:
            query["status"] = status
        if kind:
            query["kind"] = kind
        cursor = self.collection.find(query, OUTBOX_HIDDEN).sort("applied_at", 1).limit(limit)
        return [doc async for doc in cursor]

    async def grade_of(self, driver_id: str) -> str | None:
        doc = await self.grades.find_one({"_id": driver_id})
        return str(doc["grade"]) if doc else None

    async def follow_grade(self, driver_id: str, grade: str, changed_at: datetime) -> None:
        """Keep the newest grade: a redelivered or late older change does not win."""
        try:
            await self.grades.update_one(
                {"_id": driver_id, "changed_at": {"$not": {"$gt": changed_at}}},
                {"$set": {"grade": grade, "changed_at": changed_at}},
                upsert=True,
            )
        except DuplicateKeyError:
            return  # a newer grade is kept already
