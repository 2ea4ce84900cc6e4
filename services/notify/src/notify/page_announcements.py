"""Storing a broadcast page's notifications and announcing its inbox deliveries.

Two ways, chosen by ``broadcast_announcements`` (docs/notify.md, "Announcing a broadcast"):

- ``page`` (default): the page's documents in unordered bulk inserts of 100, then one
  ``notification.broadcast_delivered.v1`` naming every driver whose inbox holds the broadcast
  (event id ``<broadcast>:<page>.delivered``). A 100,000-driver broadcast is 200 events, not
  100,000, for notify to produce and for every consumer of ``notify.events`` to read.
- ``driver``: the older ``notification.delivered.v1`` per inbox, in slices of 100, each
  slice announced while the next is stored; kept for consumers that have not moved yet.

Either way nothing is kept in an outbox: the page's work item is the outbox, committed after the
announcements, and a page fanned out again re-inserts nothing and announces what is stored under
the same event ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from common.events import new_event
from common.events.notify import BroadcastDelivered, BroadcastDelivery
from common.faults import Faults
from common.outbox import OUTBOX_FIELD, PENDING_FIELD, outbox_entry
from notify.records import EVENT_SOURCE, EVENT_TOPIC, Document, NotificationRecords, delivered_entry

# Documents stored per bulk insert.
_SLICE = 100


class PageAnnouncements:
    def __init__(
        self,
        records: NotificationRecords,
        faults: Faults,
        mode: Literal["page", "driver"],
    ) -> None:
        self._records = records
        self._notifications = records.notifications
        self._faults = faults
        self._mode = mode
        # Inbox deliveries are announced by the page's one event (planning builds none each).
        self.by_page = mode == "page"

    async def store(self, broadcast_id: str, batch_no: int, docs: list[Document]) -> None:
        """Store a planned page and announce it; safe to run again for the same page."""
        announcements = {d["_id"]: d.pop(OUTBOX_FIELD, []) for d in docs}
        for planned in docs:
            # Announced from the page, so not marked for the outbox sweeper either.
            planned.pop(PENDING_FIELD, None)
        if self._mode == "page":
            await self._by_page(broadcast_id, batch_no, docs, announcements)
        else:
            await self._by_driver(batch_no, docs, announcements)

    async def _by_page(
        self,
        broadcast_id: str,
        batch_no: int,
        docs: list[Document],
        announcements: dict[str, list[Document]],
    ) -> None:
        # In slices of 100 as below: the same store work both ways, so the two differ in their
        # announcements only.
        existing: set[str] = set()
        for at in range(0, len(docs), _SLICE):
            existing |= await self._notifications.insert_fresh(docs[at : at + _SLICE])
        self._faults.hit(f"notify.broadcast.batch_written.{batch_no}")
        fresh = [d for d in docs if d["_id"] not in existing]
        inbox = [d for d in fresh if d["channel"] == "inbox" and d["status"] == "delivered"]
        # Stored by an earlier run of the page (a restart): announced as stored.
        inbox += [
            d
            for d in await self._notifications.delivered_among(sorted(existing))
            if d["channel"] == "inbox"
        ]
        # Anything else delivered at once (no channel is today) keeps its per-driver event.
        entries = [
            e for d in fresh if d["channel"] != "inbox" for e in announcements.get(d["_id"], [])
        ]
        if inbox:
            entries.append(page_delivered_entry(broadcast_id, batch_no, inbox))
        await self._records.publish_entries(entries)

    async def _by_driver(
        self, batch_no: int, docs: list[Document], announcements: dict[str, list[Document]]
    ) -> None:
        # In slices, each announced while the next is stored: the store's work and the
        # producer's overlap, and nothing is announced before it is durable.
        announcing: asyncio.Task[None] | None = None
        try:
            for at in range(0, len(docs), _SLICE):
                stored = await self._store_slice(docs[at : at + _SLICE], announcements)
                self._faults.hit(f"notify.broadcast.batch_written.{batch_no}")
                if announcing is not None:
                    await announcing
                announcing = asyncio.create_task(self._records.publish_entries(stored))
            if announcing is not None:
                await announcing
        finally:
            if announcing is not None and not announcing.done():
                announcing.cancel()

    async def _store_slice(
        self, docs: list[Document], announcements: dict[str, list[Document]]
    ) -> list[Document]:
        """Insert a slice of a page; its announcements, as stored where an earlier run of the
        page stored them (same event ids)."""
        existing = await self._notifications.insert_fresh(docs)
        entries = [e for d in docs if d["_id"] not in existing for e in announcements[d["_id"]]]
        for stored in await self._notifications.delivered_among(sorted(existing)):
            entries.append(delivered_entry(stored, stored["delivered_at"]))
        return entries


def page_delivered_entry(broadcast_id: str, batch_no: int, inbox: Sequence[Document]) -> Document:
    """The page's one announcement; its time is the latest delivery it names."""
    at: datetime = max(d["delivered_at"] for d in inbox)
    event = new_event(
        BroadcastDelivered(
            broadcast_id=broadcast_id,
            batch_no=batch_no,
            category=inbox[0]["category"],
            delivered_at=at,
            deliveries=[
                BroadcastDelivery(driver_id=d["driver_id"], notification_id=d["_id"])
                for d in sorted(inbox, key=lambda d: str(d["driver_id"]))
            ],
        ),
        source=EVENT_SOURCE,
        subject=broadcast_id,
        event_id=f"{broadcast_id}:{batch_no}.delivered",
        time=at,
    )
    return outbox_entry(EVENT_TOPIC, event)
