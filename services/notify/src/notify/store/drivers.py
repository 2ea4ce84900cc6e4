"""The ``drivers`` (facts for segments) and ``preferences`` collections, keyed by driver id."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.mongo import Indexes, announced_after, follow_newer
from notify.domain import DriverFacts, Preferences

Document = dict[str, Any]

DRIVERS = "drivers"
PREFERENCES = "preferences"

INDEXES = [
    Indexes(
        DRIVERS,
        (
            IndexModel([("fleet", 1), ("_id", 1)], name="fleet"),
            IndexModel([("grade", 1), ("_id", 1)], name="grade"),
            IndexModel([("grid", 1), ("_id", 1)], name="grid"),
            IndexModel([("organisations", 1), ("_id", 1)], name="organisations"),
            IndexModel([("cell", 1), ("_id", 1)], name="cell"),
        ),
    ),
    Indexes(PREFERENCES),
]


# What a broadcast page carries of each driver's facts (notify.fanout.PageFacts).
PAGE_FACTS = {"_id": 1, "fleet": 1, "language": 1}


def facts_of(doc: Document) -> DriverFacts:
    return DriverFacts.model_validate({**doc, "driver_id": doc["_id"]})


def preferences_of(doc: Document) -> Preferences:
    phone = doc.get("sms_phone") or {}
    return Preferences.model_validate(
        {
            **{k: v for k, v in doc.items() if k in ("language", "channels", "quiet_hours")},
            "driver_id": doc["_id"],
            "sms_phone_masked": phone.get("masked"),
            "has_sms_phone": bool(phone),
        }
    )


# When the registry announced the driver's status last (a replayed older word changes nothing).
STATUS_AT = "status_at"


class DriverStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.facts = db[DRIVERS]
        self.preferences = db[PREFERENCES]

    async def note_facts(
        self, driver_id: str, facts: Mapping[str, Mapping[str, Any]], at: datetime
    ) -> list[str]:
        """Record facts another service announced at ``at``, by group (``"fleet"``: its
        fields), each over an older announcement of its group only; returns the groups stored.

        A dead letter replayed by an operator lands at the end of its topic, after newer
        changes of the same driver it must not undo (``common.mongo.follow_newer``). A fact set
        to None is not stored, as readers take an absent one for none.
        """
        # The segments' filter wants ``active`` stored: a driver first seen here starts active,
        # and a status announced already is left as it is.
        with suppress(DuplicateKeyError):  # created by another event of the driver meanwhile
            await self.facts.update_one(
                {"_id": driver_id}, {"$setOnInsert": {"active": True}}, upsert=True
            )
        return await follow_newer(self.facts, driver_id, facts, at)

    async def note_status(self, driver_id: str, active: bool, announced_at: datetime) -> None:
        """Active or not, as the registry announced at ``announced_at``: over an older status
        only (a dead letter replayed after a newer change arrives last)."""
        with suppress(DuplicateKeyError):  # the driver is there with a newer status
            await self.facts.update_one(
                {"_id": driver_id, **announced_after(STATUS_AT, announced_at)},
                {"$set": {"active": active, STATUS_AT: announced_at, "updated_at": announced_at}},
                upsert=True,
            )

    async def note_driving(
        self,
        driver_id: str,
        until: datetime | None,
        reported_at: datetime,
        *,
        trusted_until: datetime,
    ) -> bool:
        """At the wheel until ``until`` (None: stopped), unless a later report is known; only
        for a driver notify knows (nothing to hold for anyone else).

        A known report dated after ``trusted_until`` is no later report but a clock gone wrong
        (stored before such reports were ignored): it gives way, or it would shadow every
        genuine report until its date.
        """
        done = await self.facts.update_one(
            {
                "_id": driver_id,
                "$or": [
                    {"driving_reported_at": None},
                    {"driving_reported_at": {"$lt": reported_at}},
                    {"driving_reported_at": {"$gt": trusted_until}},
                ],
            },
            {"$set": {"driving_until": until, "driving_reported_at": reported_at}},
        )
        return done.modified_count == 1

    async def forget(self, driver_id: str) -> None:
        await self.facts.delete_one({"_id": driver_id})
        await self.preferences.delete_one({"_id": driver_id})

    async def facts_for(self, driver_ids: Sequence[str]) -> dict[str, DriverFacts]:
        docs = await self.facts.find({"_id": {"$in": list(driver_ids)}}).to_list()
        return {d["_id"]: facts_of(d) for d in docs}

    async def preferences_for(self, driver_ids: Sequence[str]) -> dict[str, Preferences]:
        docs = await self.preferences.find({"_id": {"$in": list(driver_ids)}}).to_list()
        return {d["_id"]: preferences_of(d) for d in docs}

    async def consents_to_marketing(self, driver_id: str) -> bool:
        """The driver's ``notifications`` consent as notify last heard (not given: False)."""
        found = await self.facts.find_one(
            {"_id": driver_id, "consents.notifications": True}, {"_id": 1}
        )
        return found is not None

    async def consenting_to_marketing(self, driver_ids: Sequence[str]) -> set[str]:
        """Those of ``driver_ids`` whose ``notifications`` consent notify last heard as given."""
        docs = await self.facts.find(
            {"_id": {"$in": list(driver_ids)}, "consents.notifications": True}, {"_id": 1}
        ).to_list()
        return {d["_id"] for d in docs}

    async def sms_phone(self, driver_id: str) -> str | None:
        doc = await self.preferences.find_one({"_id": driver_id}, {"sms_phone": 1})
        phone = (doc or {}).get("sms_phone") or {}
        enc = phone.get("enc")
        return str(enc) if enc else None

    async def save_preferences(self, driver_id: str, fields: Document, at: datetime) -> Document:
        await self.preferences.update_one(
            {"_id": driver_id}, {"$set": {**fields, "updated_at": at}}, upsert=True
        )
        doc = await self.preferences.find_one({"_id": driver_id})
        assert doc is not None
        return doc

    async def get_preferences(self, driver_id: str) -> Document | None:
        return await self.preferences.find_one({"_id": driver_id})

    async def count(self, query: Document) -> int:
        return await self.facts.count_documents(query)

    async def pages(
        self, query: Document, after: str | None, size: int
    ) -> AsyncGenerator[list[Document], None]:
        """Drivers matching a segment, in id order after ``after``, in pages of ``size``, each
        with the facts planning their notifications needs (``PAGE_FACTS``), all from one query:
        restartable from any page's last id. One query per resolution, not per page, because
        the local store answers a sorted range by scanning the collection (200 scans for a
        district broadcast otherwise)."""
        if after is not None:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        page: list[Document] = []
        cursor = self.facts.find(query, PAGE_FACTS).sort([("_id", ASCENDING)]).batch_size(size)
        async for doc in cursor:
            page.append(doc)
            if len(page) == size:
                yield page
                page = []
        if page:
            yield page
