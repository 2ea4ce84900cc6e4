"""Broadcasts: an operator's message to a segment of drivers, now or at a time.

A due broadcast is resolved under a lease into pages of drivers, each recorded with its work
item in one update (a restart resumes after the last recorded page); each page is fanned out
into notifications by the work topic's consumer, safely again for the same page.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from common.events import new_event
from common.faults import Faults
from common.logging import get_logger
from common.outbox import RelayRef, no_relay, outbox_entry
from notify.domain import (
    BROADCAST_SOURCE,
    Broadcast,
    Conflict,
    Content,
    Language,
    NotFound,
    Segment,
    check_broadcast,
    new_broadcast_id,
    pick_language,
)
from notify.fanout import WORK_TOPIC, BroadcastBatch
from notify.records import EVENT_SOURCE, Cause, Document, NotificationRecords
from notify.segments import segment_filter
from notify.settings import NotifySettings
from notify.store.broadcasts import BroadcastStore
from notify.store.drivers import DriverStore
from notify.store.units import UnitKind, UnitTree

log = get_logger(__name__)


class Broadcasts:
    def __init__(
        self,
        records: NotificationRecords,
        broadcasts: BroadcastStore,
        *,
        drivers: DriverStore,
        settings: NotifySettings,
        faults: Faults,
        relay: RelayRef = no_relay,
    ) -> None:
        self._records = records
        self._notifications = records.notifications
        self._clock = records.clock
        self._broadcasts = broadcasts
        self._drivers = drivers
        # The registry's trees as its events told us, for subtree segments (issue 16).
        self._units = UnitTree(drivers.facts.database)
        self._settings = settings
        self._faults = faults
        # Read when resolving: the relay starts after the use cases are wired.
        self._relay = relay
        self._owner = f"notify-{uuid.uuid4().hex[:12]}"

    def now(self) -> datetime:
        return self._clock()

    # ---- operators -------------------------------------------------------------------------

    async def create_broadcast(
        self,
        *,
        category: str,
        urgency: Literal["normal", "urgent"],
        segment: Segment,
        content: dict[Language, Content],
        scheduled_at: datetime | None,
        expires_at: datetime | None,
        by: str,
        broadcast_id: str | None = None,
    ) -> Broadcast:
        """A new broadcast; with ``broadcast_id`` (four eyes) at most one: made again, the
        broadcast already made under that id."""
        if broadcast_id is not None and (made := await self._broadcasts.get(broadcast_id)):
            return broadcast_of(made)
        now = self._clock()
        when = scheduled_at or now
        urgent = check_broadcast(category, urgency, content, when, expires_at)
        broadcast = Broadcast(
            broadcast_id=broadcast_id or new_broadcast_id(),
            category=category,
            urgent=urgent,
            segment=segment,
            content=content,
            scheduled_at=when,
            expires_at=expires_at,
            status="scheduled",
            created_by=by,
            created_at=now,
        )
        doc = broadcast.model_dump(mode="python")
        doc["_id"] = doc.pop("broadcast_id")
        doc.update({"lease_until": None, "lease_owner": None, "resolve_after": None, "outbox": []})
        await self._broadcasts.insert(doc)
        return broadcast

    async def newest(self, after: dict[str, Any] | None, limit: int) -> list[Broadcast]:
        return [broadcast_of(d) for d in await self._broadcasts.newest(after, limit)]

    async def broadcast(
        self, broadcast_id: str
    ) -> tuple[Broadcast, dict[str, dict[str, int]], int]:
        """The broadcast, its notifications counted per channel and status, and batches done."""
        doc = await self._broadcasts.get(broadcast_id)
        if doc is None:
            raise NotFound(broadcast_id)
        progress = await self._notifications.progress(broadcast_id)
        batches_done = await self._broadcasts.batches_done(broadcast_id)
        return broadcast_of(doc), progress, batches_done

    async def cancel_broadcast(self, broadcast_id: str) -> Broadcast:
        doc = await self._broadcasts.cancel(broadcast_id, self._clock())
        if doc is None:
            if await self._broadcasts.get(broadcast_id) is None:
                raise NotFound(broadcast_id)
            raise Conflict("the broadcast is already finished")
        return broadcast_of(doc)

    # ---- resolving due broadcasts into pages -----------------------------------------------

    async def start_due_broadcasts(self) -> int:
        """Resolve due broadcasts into batches; resumes after the last recorded page."""
        now = self._clock()
        started = 0
        for row in await self._broadcasts.due(now, 10):
            lease = timedelta(seconds=self._settings.broadcast_lease_seconds)
            doc = await self._broadcasts.claim(row["_id"], self._owner, now, now + lease)
            if doc is None:
                continue
            started += 1
            await self._resolve(doc, lease)
        return started

    async def _resolve(self, doc: Document, lease: timedelta) -> None:
        broadcast = broadcast_of(doc)
        bid = broadcast.broadcast_id
        store = self._broadcasts
        if broadcast.expired_at(self._clock()):
            await store.expire(bid, self._owner)
            return
        # Publish anything a crash left queued before adding more.
        await self._publish(bid)
        segment = broadcast.segment
        within = None
        if segment.subtree and segment.value:
            tree: UnitKind = "grid" if segment.kind == "grid" else "organisation"
            within = await self._units.under(tree, segment.value)
        query = segment_filter(segment, category=broadcast.category, within=within)
        after: str | None = doc.get("resolve_after")
        batch_no = int(doc.get("batches_enqueued", 0))
        while True:
            page = await self._drivers.page(query, after, self._settings.broadcast_batch_size)
            if not page:
                break
            work = new_event(
                BroadcastBatch(broadcast_id=bid, batch_no=batch_no, driver_ids=page),
                source=EVENT_SOURCE,
                subject=f"{bid}:{batch_no}",
                event_id=f"{bid}:{batch_no}",
            )
            recorded = await store.record_batch(
                bid,
                owner=self._owner,
                batch_no=batch_no,
                last_driver=page[-1],
                size=len(page),
                until=self._clock() + lease,
                work_item=outbox_entry(WORK_TOPIC, work),
            )
            if not recorded:
                log.warning("broadcast lease lost or cancelled; stopping", broadcast_id=bid)
                return
            self._faults.hit(f"notify.broadcast.enqueued.{batch_no}")
            await self._publish(bid)
            after, batch_no = page[-1], batch_no + 1
        if await store.resolved(bid, self._owner, self._clock()):
            await store.complete_if_done(bid, self._clock())

    async def _publish(self, broadcast_id: str) -> None:
        relay = self._relay()
        if relay is not None:
            await relay.flush(self._broadcasts.collection, broadcast_id)

    # ---- fanning a page out ----------------------------------------------------------------

    async def fan_out(self, batch: BroadcastBatch) -> None:
        """One page of a broadcast into notifications; safe to run again for the same page."""
        store = self._broadcasts
        doc = await store.get(batch.broadcast_id)
        now = self._clock()
        if doc is None:
            raise NotFound(batch.broadcast_id)
        broadcast = broadcast_of(doc)
        if broadcast.status in ("cancelled", "expired") or broadcast.expired_at(now):
            await store.batch_done(broadcast.broadcast_id, batch.batch_no, {"skipped": 1}, now)
            return
        cause = Cause(
            source=BROADCAST_SOURCE,
            source_id=broadcast.broadcast_id,
            kind="broadcast",
            category=broadcast.category,
            urgent=broadcast.urgent,
            broadcast_id=broadcast.broadcast_id,
            expires_at=broadcast.expires_at,
        )
        facts = await self._drivers.facts_for(batch.driver_ids)
        prefs = await self._drivers.preferences_for(batch.driver_ids)
        subscriptions = await self._records.subscriptions_for(broadcast.category, batch.driver_ids)
        docs: list[Document] = []
        for driver_id in batch.driver_ids:
            driver = facts.get(driver_id)
            if driver is None or not driver.active:
                continue
            chosen = prefs.get(driver_id)
            language = pick_language(chosen, driver, self._settings.default_language)
            docs += self._records.plan(
                driver_id,
                cause,
                broadcast.content_for(language),
                facts=driver,
                prefs=chosen,
                subscriptions=subscriptions[driver_id],
                limited=False,
            )
        await self._notifications.insert_new(docs)
        self._faults.hit(f"notify.broadcast.batch_written.{batch.batch_no}")
        await self._records.announce([d["_id"] for d in docs])
        await store.batch_done(
            broadcast.broadcast_id, batch.batch_no, {"notifications": len(docs)}, now
        )
        await store.complete_if_done(broadcast.broadcast_id, now)


def broadcast_of(doc: Document) -> Broadcast:
    fields = {k: v for k, v in doc.items() if k in Broadcast.model_fields}
    return Broadcast.model_validate({**fields, "broadcast_id": doc["_id"]})
