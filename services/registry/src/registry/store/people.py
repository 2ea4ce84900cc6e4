"""The ``people`` and ``appointments`` collections: who serves in organisations without being a
driver (social-worker secretaries, instructors, officials) and their role in each one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.mongo import Indexes
from registry.groups import Appointment, Person, PersonRole

Document = dict[str, Any]

PEOPLE = "people"
APPOINTMENTS = "appointments"
SEAT = "seat"  # organisation and role, on the appointments to a role held by one at a time

INDEXES = [
    Indexes(
        APPOINTMENTS,
        (
            IndexModel([("organisation_id", 1), ("person_id", 1)], name="org_person"),
            IndexModel([("person_id", 1)], name="person"),
            # A role one person holds at a time (a secretary): two appointed at once cannot
            # both be.
            IndexModel([(SEAT, 1)], unique=True, sparse=True, name="one_per_seat"),
        ),
    ),
    # Erasures a crash interrupted are looked up at start-up.
    Indexes(PEOPLE, (IndexModel([("erasure", 1)], name="erasure", sparse=True),)),
]


def _appointment_id(organisation_id: str, person_id: str) -> str:
    return f"{organisation_id}:{person_id}"


class PeopleStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.people = db[PEOPLE]
        self.appointments = db[APPOINTMENTS]

    async def insert(self, person: Person) -> None:
        doc = person.model_dump(mode="python")
        doc["_id"] = doc.pop("person_id")
        await self.people.insert_one(doc)

    async def get(self, person_id: str) -> Person | None:
        doc = await self.people.find_one({"_id": person_id})
        if doc is None:
            return None
        return Person.model_validate({**doc, "person_id": doc["_id"]})

    async def appoint(self, appointment: Appointment, *, single: bool = False) -> bool:
        """False when the person already holds a role there, or (``single``) someone holds
        this role there (the caller reads which)."""
        doc = appointment.model_dump(mode="python")
        doc["_id"] = _appointment_id(appointment.organisation_id, appointment.person_id)
        if single:
            doc[SEAT] = f"{appointment.organisation_id}\x1f{appointment.role}"
        try:
            await self.appointments.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def holder(self, organisation_id: str, role: PersonRole) -> str | None:
        doc = await self.appointments.find_one({"organisation_id": organisation_id, "role": role})
        return str(doc["person_id"]) if doc else None

    async def appointment(self, organisation_id: str, person_id: str) -> Appointment | None:
        doc = await self.appointments.find_one({"_id": _appointment_id(organisation_id, person_id)})
        return Appointment.model_validate(doc) if doc else None

    async def dismiss(
        self, organisation_id: str, person_id: str, *, appointed_at: datetime | None = None
    ) -> bool:
        """``appointed_at``: only that appointment (the one the dismissal announced), not one
        made again since by someone else."""
        query: Document = {"_id": _appointment_id(organisation_id, person_id)}
        if appointed_at is not None:
            query["appointed_at"] = appointed_at
        result = await self.appointments.delete_one(query)
        return result.deleted_count == 1

    async def of_organisations(self, organisation_ids: list[str]) -> list[Appointment]:
        cursor = self.appointments.find({"organisation_id": {"$in": organisation_ids}}).sort(
            "_id", 1
        )
        return [Appointment.model_validate(doc) async for doc in cursor]

    async def named(self, person_ids: list[str]) -> dict[str, Person]:
        cursor = self.people.find({"_id": {"$in": person_ids}})
        return {
            doc["_id"]: Person.model_validate({**doc, "person_id": doc["_id"]})
            async for doc in cursor
        }

    async def of_person(self, person_id: str) -> list[Appointment]:
        cursor = self.appointments.find({"person_id": person_id}).sort("_id", 1)
        return [Appointment.model_validate(doc) async for doc in cursor]

    # ------------------------------------------------------------------ erasure

    async def begin_erasure(self, person_id: str, now: datetime) -> None:
        """Step 1, one update: the name goes, the record says an erasure is under way."""
        await self.people.update_one(
            {"_id": person_id, "erased": {"$ne": True}},
            {
                "$set": {"erased": True, "erased_at": now, "erasure": "pending"},
                "$unset": {"name": ""},
            },
        )

    async def finish_erasure(self, person_id: str) -> None:
        await self.people.update_one({"_id": person_id}, {"$unset": {"erasure": ""}})

    async def pending_erasures(self) -> list[str]:
        return [doc["_id"] async for doc in self.people.find({"erasure": "pending"}, {"_id": 1})]

    async def count_roles(self, organisation_ids: list[str] | None = None) -> dict[str, int]:
        query: Document = (
            {} if organisation_ids is None else {"organisation_id": {"$in": organisation_ids}}
        )
        counts: dict[str, int] = {}
        async for doc in self.appointments.find(query, {"role": 1}):
            counts[doc["role"]] = counts.get(doc["role"], 0) + 1
        return counts
