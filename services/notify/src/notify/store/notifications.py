"""The ``notifications`` collection: one document per driver, cause and channel, with its outbox.

The ``_id`` is derived from (driver, cause, channel) and nothing else, so a redelivered cause can
only hit the same document, and the ``_id`` index alone keeps one per driver, cause and channel.
That holds when sharded by driver too: the same driver, cause and channel always land on the
same shard, whose ``_id`` index refuses the second.

Stored form: a field at its default is not stored, so an inbox item of a district broadcast is
half the store's work (issue 19). Absent means: ``subscription_id``, ``broadcast_id``,
``expires_at``, ``hold_until``, ``hold_reason``, ``quiet_until``, ``next_attempt_at``,
``lease_until``, ``read_at``, ``archived_at``, ``reason`` none; ``urgent`` and ``collapsed``
false; ``attempts`` 0; ``outbox`` empty; ``updated_at`` the ``created_at``; ``history`` the
creation state alone (:func:`history_of`). Queries keep their meaning, as ``{field: None}``
matches an absent field; readers use ``.get`` with the default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from common.bus import Publisher
from common.mongo import Indexes, is_duplicate_key
from common.outbox import (
    OUTBOX_FIELD,
    OUTBOX_HIDDEN,
    PENDING_FIELD,
    UPGRADES,
    clear_sent,
    push_outbox,
)

Document = dict[str, Any]

NOTIFICATIONS = "notifications"
# Set (to the notification's id) exactly while it waits, queued or held.
DUE_MARK = "due_mark"
WAITING = ("queued", "held")
_WAITING = {DUE_MARK: {"$regex": "^"}}
# Where notify notes that notifications stored waiting before the mark existed were marked.
_MARKED_ONCE = f"{NOTIFICATIONS}.{DUE_MARK}"


def history_of(doc: Document) -> list[Document]:
    """The notification's states in order. One stored without a history (delivered at once) has
    never changed state: every change pushes onto the history, and only a waiting notification
    changes, which is stored with its first entry."""
    history: list[Document] | None = doc.get("history")
    if history:
        return history
    return [{"status": doc["status"], "at": doc["created_at"], "reason": doc.get("hold_reason")}]


def marked_if_waiting(doc: Document) -> Document:
    """A new notification with its due mark when it starts out waiting."""
    return {**doc, DUE_MARK: doc["_id"]} if doc.get("status") in WAITING else doc


INDEXES = [
    Indexes(
        NOTIFICATIONS,
        (
            IndexModel([("driver_id", 1), ("channel", 1), ("created_at", -1)], name="inbox_newest"),
            # What the dispatcher may have to send or release: the waiting ones, listed from this
            # sparse unique index's entries (the local store scans for any query that is not
            # exactly a unique index's fields; on MongoDB it is a small index).
            IndexModel([(DUE_MARK, 1)], unique=True, sparse=True, name="waiting"),
            IndexModel([("broadcast_id", 1), ("status", 1)], name="broadcast_progress"),
            IndexModel([("status", 1), ("updated_at", -1), ("_id", -1)], name="failed_newest"),
        ),
        # A transition's filters, {_id, status} and {_id, status, lease_until}, are found by
        # _id; these unique copies of _id served them on the local store before it could. The
        # unique (driver, source, source_id, channel key) said again what the _id says, at the
        # cost of a second index entry on every insert (half a broadcast's store time, issue 19).
        retired=("id_status", "lease", "one_per_driver_cause_channel"),
    )
]

# Inbox items are the inbox channel's notifications once delivered (held ones wait).
_INBOX_VISIBLE = {"channel": "inbox", "status": "delivered"}
_PUBLISH_CONCURRENCY = 200
DUPLICATE_KEY = 11000


class NotificationStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[NOTIFICATIONS]
        self._marked_once = False

    async def insert_new(self, docs: Sequence[Document]) -> None:
        """Insert what is not there yet; existing ids (redelivery) are left as they are."""
        if not docs:
            return
        try:
            await self.collection.insert_many([marked_if_waiting(d) for d in docs], ordered=False)
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise

    async def insert_fresh(self, docs: Sequence[Document]) -> set[str]:
        """One unordered bulk insert; the ids that were already there (a page fanned out again
        after a restart) are returned, and left as they are."""
        if not docs:
            return set()
        try:
            await self.collection.insert_many([marked_if_waiting(d) for d in docs], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return {docs[e["index"]]["_id"] for e in errors}
        return set()

    async def delivered_among(self, ids: Sequence[str]) -> list[Document]:
        """What an announcement needs of these notifications, for those delivered."""
        if not ids:
            return []
        fields = {"driver_id": 1, "channel": 1, "category": 1, "delivered_at": 1}
        query = {"_id": {"$in": list(ids)}, "status": "delivered"}
        return await self.collection.find(query, fields).to_list()

    async def get(self, notification_id: str) -> Document | None:
        return await self.collection.find_one({"_id": notification_id}, OUTBOX_HIDDEN)

    async def inbox(
        self,
        driver_id: str,
        *,
        after: dict[str, Any] | None,
        limit: int,
        unread_only: bool,
        archived: bool,
    ) -> list[Document]:
        query: Document = {"driver_id": driver_id, **_INBOX_VISIBLE}
        query["archived_at"] = {"$ne": None} if archived else None
        if unread_only:
            query["read_at"] = None
        if after is not None:
            at = datetime.fromisoformat(after["t"])
            query["$or"] = [
                {"created_at": {"$lt": at}},
                {"created_at": at, "_id": {"$lt": after["id"]}},
            ]
        cursor = (
            self.collection.find(query, {**OUTBOX_HIDDEN, "history": 0})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return await cursor.to_list()

    async def unread_count(self, driver_id: str) -> int:
        return await self.collection.count_documents(
            {"driver_id": driver_id, **_INBOX_VISIBLE, "archived_at": None, "read_at": None}
        )

    async def set_inbox_flag(
        self, driver_id: str, notification_id: str, field: str, value: datetime | None
    ) -> Document | None:
        return await self.collection.find_one_and_update(
            {"_id": notification_id, "driver_id": driver_id, **_INBOX_VISIBLE},
            {"$set": {field: value}},
            projection={**OUTBOX_HIDDEN, "history": 0},
            return_document=ReturnDocument.AFTER,
        )

    async def waiting(self) -> list[Document]:
        """Every notification waiting (queued or held), with what says when it is due."""
        if not self._marked_once:
            await self._mark_waiting_once()
        fields = {"status": 1, "hold_until": 1, "next_attempt_at": 1, "lease_until": 1}
        return await self.collection.find(_WAITING, fields).to_list()

    async def _mark_waiting_once(self) -> None:
        """Mark the notifications stored waiting before the mark existed (an upgraded store):
        one scan per database, noted as done only after all are marked."""
        upgrades = self.collection.database[UPGRADES]
        if await upgrades.find_one({"_id": _MARKED_ONCE}) is None:
            unmarked = {"status": {"$in": list(WAITING)}, DUE_MARK: {"$exists": False}}
            async for doc in self.collection.find(unmarked, {"_id": 1}):
                await self.collection.update_one(
                    {"_id": doc["_id"], "status": {"$in": list(WAITING)}},
                    {"$set": {DUE_MARK: doc["_id"]}},
                )
            await upgrades.update_one(
                {"_id": _MARKED_ONCE}, {"$set": {"scanned_at": datetime.now(UTC)}}, upsert=True
            )
        self._marked_once = True

    async def held_due(self, now: datetime, limit: int) -> list[Document]:
        due = [
            d
            for d in await self.waiting()
            if d["status"] == "held" and d.get("hold_until") is not None and d["hold_until"] <= now
        ]
        return sorted(due, key=lambda d: d["hold_until"])[:limit]

    async def rehold(self, notification_id: str, until: datetime, reason: str) -> None:
        """Keep a held notification waiting longer (a drive goes on); no history entry, as a
        long drive renews it every few minutes."""
        await self.collection.update_one(
            {"_id": notification_id, "status": "held"},
            {"$set": {"hold_until": until, "hold_reason": reason}},
        )

    async def release_driving_holds(self, driver_id: str, at: datetime) -> int:
        """The driver stopped: what waited for the drive is due now (its quiet hours are
        checked again when it is released)."""
        done = await self.collection.update_many(
            {"driver_id": driver_id, "status": "held", "hold_reason": "driving"},
            {"$set": {"hold_until": at}},
        )
        return done.modified_count

    async def transition(
        self,
        notification_id: str,
        *,
        expect: Document,
        set_fields: Document,
        status: str,
        at: datetime,
        reason: str | None = None,
        outbox: Document | None = None,
        inc: Document | None = None,
    ) -> Document | None:
        """Move a notification on, only if it is still as expected; the event rides along."""
        update: Document = {
            "$set": {**set_fields, "status": status, "updated_at": at},
            "$push": {"history": {"status": status, "at": at, "reason": reason}},
        }
        if status in WAITING:
            update["$set"][DUE_MARK] = notification_id
        else:
            update["$unset"] = {DUE_MARK: ""}
        if inc:
            update["$inc"] = inc
        if outbox is not None:
            update = push_outbox(update, outbox)
        return await self.collection.find_one_and_update(
            {"_id": notification_id, **expect},
            update,
            projection={**OUTBOX_HIDDEN, "history": 0},
            return_document=ReturnDocument.AFTER,
        )

    async def send_due(self, now: datetime, limit: int) -> list[Document]:
        due = [
            d
            for d in await self.waiting()
            if d["status"] == "queued"
            and d.get("next_attempt_at") is not None
            and d["next_attempt_at"] <= now
            and (d.get("lease_until") is None or d["lease_until"] <= now)
        ]
        return sorted(due, key=lambda d: d["next_attempt_at"])[:limit]

    async def claim(self, due: Document, until: datetime) -> Document | None:
        """Lease a notification :meth:`send_due` listed, if its lease is still the one read then
        (none, or run out): of two dispatchers that read it, one gets it. The filter is exactly
        the ``lease`` index's fields, so the local store finds it by index; asking instead for
        "no lease or one run out" made every claim read every notification."""
        return await self.collection.find_one_and_update(
            {"_id": due["_id"], "status": "queued", "lease_until": due.get("lease_until")},
            {"$set": {"lease_until": until}},
            projection={**OUTBOX_HIDDEN, "history": 0},
            return_document=ReturnDocument.AFTER,
        )

    async def count_attempt(self, notification_id: str, reason: str | None) -> None:
        await self.collection.update_one(
            {"_id": notification_id}, {"$inc": {"attempts": 1}, "$set": {"last_error": reason}}
        )

    async def defer(self, notification_id: str, until: datetime) -> None:
        await self.collection.update_one(
            {"_id": notification_id, "status": "queued"},
            {"$set": {"next_attempt_at": until, "lease_until": None}},
        )

    async def failures(
        self, broadcast_id: str | None, after: dict[str, Any] | None, limit: int
    ) -> list[Document]:
        """Failed deliveries, the latest failure first (optionally of one broadcast)."""
        query: Document = {"status": "failed"}
        if broadcast_id is not None:
            query["broadcast_id"] = broadcast_id
        if after is not None:
            at = datetime.fromisoformat(after["t"])
            query["$or"] = [
                {"updated_at": {"$lt": at}},
                {"updated_at": at, "_id": {"$lt": after["id"]}},
            ]
        fields = {"title": 0, "body": 0, "history": 0, **OUTBOX_HIDDEN}
        cursor = (
            self.collection.find(query, fields)
            .sort([("updated_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return await cursor.to_list()

    async def progress(self, broadcast_id: str) -> dict[str, dict[str, int]]:
        """Counts by channel and status, derived from the notifications (never drift)."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {"broadcast_id": broadcast_id}},
                {
                    "$group": {
                        "_id": {"channel": "$channel", "status": "$status"},
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        out: dict[str, dict[str, int]] = {}
        async for row in cursor:
            out.setdefault(row["_id"]["channel"], {})[row["_id"]["status"]] = int(row["n"])
        return out

    async def flush_outbox(self, publisher: Publisher, ids: Sequence[str]) -> int:
        """Publish the pending events of many notifications at once, then drop them.

        The per-document relay makes three round trips per document; a broadcast batch has
        hundreds, so it is read once, published concurrently and cleared with one update.
        A crash in between republishes (consumers dedupe by the event's id).
        """
        sent = 0
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            # By _id alone: the local store scans for any query naming more than an index's keys.
            found = await self.collection.find(
                {"_id": {"$in": chunk}}, {OUTBOX_FIELD: 1, PENDING_FIELD: 1}
            ).to_list()
            docs = [d for d in found if d.get(OUTBOX_FIELD) or d.get(PENDING_FIELD)]
            entries = [entry for doc in docs for entry in doc.get(OUTBOX_FIELD) or []]
            for at in range(0, len(entries), _PUBLISH_CONCURRENCY):
                part = entries[at : at + _PUBLISH_CONCURRENCY]
                await asyncio.gather(
                    *(
                        publisher.publish_payload(e["topic"], e["key"], bytes(e["payload"]))
                        for e in part
                    )
                )
            if docs:
                await clear_sent(self.collection, docs)
            sent += len(entries)
        return sent
