"""Honours' collections: nominations, panel votes (one per member and round: the id says so)
and announced rounds (one per category and period: the id says so, with winners and events)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.mongo import Indexes
from common.outbox import OUTBOX_HIDDEN

Document = dict[str, Any]

NOMINATIONS = "honour_nominations"
VOTES = "honour_votes"
ROUNDS = "honour_rounds"
# The last traffic-safety milestone points credited per driver (a safety model needs one).
MILESTONES = "honour_milestones"
# A round's own panel, when the secretary named one (id: the round).
PANELS = "honour_panels"

INDEXES = [
    Indexes(NOMINATIONS, (IndexModel([("round", 1), ("driver_id", 1)], name="round"),)),
    Indexes(VOTES, (IndexModel([("round", 1)], name="round"),)),
    Indexes(ROUNDS, (IndexModel([("period", 1)], name="period"),)),
]


class HonourStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.nominations = db[NOMINATIONS]
        self.votes = db[VOTES]
        self.rounds = db[ROUNDS]
        self.milestones = db[MILESTONES]
        self.panels = db[PANELS]

    async def nominate(self, round_id: str, driver_id: str, nominator: Document) -> Document:
        """One nomination per driver and round; further nominators join it, each once (asked
        again, a nominator's first word stands: the document does not grow by repetition)."""
        nomination_id = f"{round_id}:{driver_id}"
        with suppress(DuplicateKeyError):  # there, and this nominator named on it already
            await self.nominations.update_one(
                {"_id": nomination_id, "nominators.sub": {"$ne": nominator["sub"]}},
                {
                    "$setOnInsert": {
                        "round": round_id,
                        "driver_id": driver_id,
                        "at": nominator["at"],
                    },
                    "$push": {"nominators": nominator},
                },
                upsert=True,
            )
        return await self.nominations.find_one({"_id": nomination_id}) or {}

    async def nomination(self, nomination_id: str) -> Document | None:
        return await self.nominations.find_one({"_id": nomination_id})

    async def of_round(self, round_id: str) -> list[Document]:
        cursor = self.nominations.find({"round": round_id}).sort("at", 1)
        return [doc async for doc in cursor]

    async def vote(self, round_id: str, voter: str, nomination_id: str, at: datetime) -> bool:
        """False when this panel member has voted in this round already."""
        doc = {"_id": f"{round_id}:{voter}", "round": round_id, "voter": voter}
        try:
            await self.votes.insert_one(doc | {"nomination_id": nomination_id, "at": at})
        except DuplicateKeyError:
            return False
        return True

    async def set_panel(self, round_id: str, members: list[str], by: str, at: datetime) -> bool:
        """False when the round's voting began (:meth:`begin_voting`): its panel stays."""
        try:
            await self.panels.update_one(
                {"_id": round_id, "voting": {"$ne": True}},
                {"$set": {"members": members, "by": by, "at": at}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def begin_voting(self, round_id: str, members: list[str] | None) -> bool:
        """Note that the round's voting began, on the panel a vote was checked against (None:
        no panel named); False when the panel is no longer that one. After it no panel is
        named, so a vote never counts under a panel it was not checked against."""
        try:
            await self.panels.update_one(
                {"_id": round_id, "members": members}, {"$set": {"voting": True}}, upsert=True
            )
        except DuplicateKeyError:
            return False
        return True

    async def close_voting(self, round_id: str, *, closed: bool = True) -> None:
        """Votes from now on are refused (the announcement reads the votes after this)."""
        await self.panels.update_one({"_id": round_id}, {"$set": {"closed": closed}}, upsert=True)

    async def voting_closed(self, round_id: str) -> bool:
        return await self.panels.find_one({"_id": round_id, "closed": True}, {"_id": 1}) is not None

    async def unvote(self, round_id: str, voter: str) -> None:
        await self.votes.delete_one({"_id": f"{round_id}:{voter}"})

    async def panel(self, round_id: str) -> list[str] | None:
        """The round's panel members (subs), or None: any panel member (honours:vote) votes."""
        doc = await self.panels.find_one({"_id": round_id})
        # A round whose voting began without a named panel has the document, without members.
        return list(doc["members"]) if doc and doc.get("members") is not None else None

    async def votes_of(self, round_id: str) -> list[Document]:
        return [doc async for doc in self.votes.find({"round": round_id})]

    async def announce(self, doc: Document) -> bool:
        """False when the round was announced before."""
        try:
            await self.rounds.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def note_milestone(self, driver_id: str, at: datetime) -> None:
        await self.milestones.update_one({"_id": driver_id}, {"$max": {"last_at": at}}, upsert=True)

    async def milestone_at(self, driver_id: str) -> datetime | None:
        doc = await self.milestones.find_one({"_id": driver_id})
        return doc["last_at"] if doc else None

    async def announced(self, period_prefix: str) -> list[Document]:
        query = {"period": {"$regex": f"^{period_prefix}"}}
        cursor = self.rounds.find(query, OUTBOX_HIDDEN).sort([("period", 1), ("category", 1)])
        return [doc async for doc in cursor]
