"""Party-member life's collections (issue 17; docs/party-life.md). The member-point ledger and
its rules are collections of their own, never the points service's service-point ledger (which
lives in another service's database) and never its rules.

- ``party_members``: the ``party_life`` consent the registry announced, per driver;
- ``party_roles``: who holds which role in which organisation (a branch's secretary);
- ``party_meetings``: meetings a branch scheduled, with their outbox;
- ``party_attendance``: one per meeting and member: the marks (by event id) and the minutes;
- ``party_learning``: learning sessions, one per partner event;
- ``member_points``: the member-point ledger, one entry per cause (its id), with its outbox;
- ``member_point_caps``: what each member earned per rule and month (the cap);
- ``member_point_rules``: the rule table.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.mongo import Indexes
from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]

MEMBERS = "party_members"
ROLES = "party_roles"
MEETINGS = "party_meetings"
ATTENDANCE = "party_attendance"
LEARNING = "party_learning"
LEDGER = "member_points"
CAPS = "member_point_caps"
RULES = "member_point_rules"

INDEXES = [
    Indexes(ROLES, (IndexModel([("person_id", 1), ("held", 1)], name="person"),)),
    Indexes(MEETINGS, (IndexModel([("branch_id", 1), ("starts_at", -1)], name="branch"),)),
    Indexes(
        ATTENDANCE,
        (
            IndexModel([("meeting_id", 1)], name="meeting"),
            IndexModel([("driver_id", 1)], name="driver"),
        ),
    ),
    Indexes(LEARNING, (IndexModel([("driver_id", 1), ("year", 1)], name="driver_year"),)),
    Indexes(LEDGER, (IndexModel([("driver_id", 1), ("awarded_at", -1)], name="driver"),)),
    Indexes(CAPS, (IndexModel([("driver_id", 1)], name="driver"),)),
]


def grant_key(entry_id: str) -> str:
    """A field name for an entry id (ids hold dots and colons a field name may not)."""
    return hashlib.sha256(entry_id.encode()).hexdigest()[:24]


class PartyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.members = db[MEMBERS]
        self.roles = db[ROLES]
        self.meetings = db[MEETINGS]
        self.attendance = db[ATTENDANCE]
        self.learning = db[LEARNING]
        self.ledger = db[LEDGER]
        self.caps = db[CAPS]
        self.rules = db[RULES]

    # ------------------------------------------------------------------ followed facts

    async def note_consent(self, driver_id: str, granted: bool, at: datetime) -> None:
        """Newest answer wins (the registry's announcements may come again or late)."""
        doc = {"consent": granted, "consent_at": at}
        with suppress(DuplicateKeyError):  # a newer answer is kept
            await self.members.update_one(
                {"_id": driver_id, "$or": [{"consent_at": {"$lte": at}}, {"consent_at": None}]},
                {"$set": doc},
                upsert=True,
            )

    async def consents(self, driver_ids: list[str]) -> set[str]:
        cursor = self.members.find({"_id": {"$in": driver_ids}, "consent": True}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def note_role(
        self, organisation_id: str, person_id: str, role: str, *, held: bool, at: datetime
    ) -> None:
        key = f"{organisation_id}:{person_id}"
        doc = {"organisation_id": organisation_id, "person_id": person_id, "role": role}
        with suppress(DuplicateKeyError):  # a newer appointment or dismissal is kept
            await self.roles.update_one(
                {"_id": key, "$or": [{"at": {"$lte": at}}, {"at": None}]},
                {"$set": doc | {"held": held, "at": at}},
                upsert=True,
            )

    async def branches_led_by(self, person_id: str) -> set[str]:
        query = {"person_id": person_id, "role": "secretary", "held": True}
        return {doc["organisation_id"] async for doc in self.roles.find(query)}

    # ------------------------------------------------------------------ meetings

    async def add_meeting(self, doc: Document) -> None:
        await self.meetings.insert_one(doc)

    async def meeting(self, meeting_id: str) -> Document | None:
        return await self.meetings.find_one({"_id": meeting_id}, OUTBOX_HIDDEN)

    async def mark_held(self, meeting_id: str, fields: Document, events: list[Document]) -> bool:
        result = await self.meetings.update_one(
            {"_id": meeting_id, "status": "scheduled"},
            push_outbox({"$set": {"status": "held", **fields}}, events),
        )
        return result.modified_count == 1

    async def meetings_of(self, branch_ids: list[str], limit: int) -> list[Document]:
        cursor = self.meetings.find({"branch_id": {"$in": branch_ids}}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor.sort("starts_at", -1).limit(limit)]

    # ------------------------------------------------------------------ attendance

    async def add_mark(self, key: str, fields: Document, mark: Document) -> bool:
        """False when this mark (its event id) was recorded before."""
        try:
            result = await self.attendance.update_one(
                {"_id": key, "marks.event_id": {"$ne": mark["event_id"]}},
                {"$setOnInsert": fields, "$push": {"marks": mark}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return result.modified_count == 1 or result.upserted_id is not None

    async def attendance_of(self, meeting_id: str) -> list[Document]:
        cursor = self.attendance.find({"meeting_id": meeting_id}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor]

    # ------------------------------------------------------------------ learning

    async def add_learning(self, doc: Document) -> bool:
        try:
            await self.learning.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    # ------------------------------------------------------------------ member points

    async def rule(self, rule_id: str) -> Document | None:
        return await self.rules.find_one({"_id": rule_id})

    async def all_rules(self) -> list[Document]:
        return [doc async for doc in self.rules.find().sort("_id", 1)]

    async def seed_rules(self, rules: dict[str, Document], at: datetime) -> None:
        for rule_id, rule in rules.items():
            await self.rules.update_one(
                {"_id": rule_id},
                {"$setOnInsert": rule | {"active": True, "updated_at": at, "updated_by": "seed"}},
                upsert=True,
            )

    async def put_rule(self, rule_id: str, rule: Document) -> Document:
        await self.rules.update_one({"_id": rule_id}, {"$set": rule}, upsert=True)
        return await self.rules.find_one({"_id": rule_id}) or {}

    async def reserve(self, cap_id: str, driver_id: str, entry_id: str, want: int, cap: int) -> int:
        """Points granted to ``entry_id`` under the month's cap, once: asked again (a
        redelivery), the first answer. Conditional on the total read, so racing awards of
        one member and month never pass the cap together."""
        key = grant_key(entry_id)
        await self.caps.update_one(
            {"_id": cap_id},
            {"$setOnInsert": {"driver_id": driver_id, "total": 0, "grants": {}}},
            upsert=True,
        )
        for _ in range(5):
            doc = await self.caps.find_one({"_id": cap_id}) or {}
            if key in doc.get("grants", {}):
                return int(doc["grants"][key])
            used = int(doc.get("total", 0))
            grant = max(0, min(want, cap - used))
            result = await self.caps.update_one(
                {"_id": cap_id, "total": used, f"grants.{key}": {"$exists": False}},
                {"$set": {f"grants.{key}": grant}, "$inc": {"total": grant}},
            )
            if result.modified_count == 1:
                return grant
        raise RuntimeError(f"the cap {cap_id} kept changing; retried by redelivery")

    async def add_entry(self, doc: Document) -> None:
        # Written before: its outbox (if still there) is published again.
        with suppress(DuplicateKeyError):
            await self.ledger.insert_one(doc)

    async def statement(self, driver_id: str, limit: int) -> list[Document]:
        cursor = self.ledger.find({"driver_id": driver_id}, OUTBOX_HIDDEN)
        return [doc async for doc in cursor.sort("awarded_at", -1).limit(limit)]

    async def totals(self, driver_ids: list[str], year: str) -> dict[str, dict[str, int]]:
        """Per member: member points, counted meetings and learning minutes in the year."""
        out: dict[str, dict[str, int]] = {
            d: {"points": 0, "meetings": 0, "learning_minutes": 0} for d in driver_ids
        }
        match = {"driver_id": {"$in": driver_ids}, "period": {"$regex": f"^{year}-"}}
        pipeline: list[Document] = [
            {"$match": match},
            {"$group": {"_id": "$driver_id", "points": {"$sum": "$points"}}},
        ]
        async for row in await self.ledger.aggregate(pipeline):
            out[row["_id"]]["points"] = row["points"]
        learnt = [
            {"$match": {"driver_id": {"$in": driver_ids}, "year": year}},
            {"$group": {"_id": "$driver_id", "minutes": {"$sum": "$minutes"}}},
        ]
        async for row in await self.learning.aggregate(learnt):
            out[row["_id"]]["learning_minutes"] = row["minutes"]
        query = {"driver_id": {"$in": driver_ids}, "counted": True, "year": year}
        async for doc in self.attendance.find(query, {"driver_id": 1}):
            out[doc["driver_id"]]["meetings"] += 1
        return out
