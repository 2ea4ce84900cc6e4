"""Broadcasts: an operator's message to a segment of drivers, now or at a time.

A due broadcast is resolved under a lease into pages of drivers, each recorded with its work
item in one update (a restart resumes after the last recorded page); each page is fanned out
into notifications by the work topic's consumer, safely again for the same page.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any, Literal

from common.erased_drivers import ErasedDrivers
from common.events import new_event
from common.faults import Faults
from common.logging import get_logger
from common.outbox import RelayRef, no_relay, outbox_entry
from notify.domain import (
    BROADCAST_SOURCE,
    LANGUAGES,
    Broadcast,
    Conflict,
    Content,
    DriverFacts,
    Language,
    NotFound,
    Preferences,
    Segment,
    check_broadcast,
    new_broadcast_id,
    pick_language,
    rate_window,
)
from notify.fanout import WORK_TOPIC, BroadcastBatch, PageFacts
from notify.page_announcements import PageAnnouncements
from notify.records import EVENT_SOURCE, Cause, Document, NotificationRecords, PagePlace
from notify.segments import MARKETING_CATEGORIES, MARKETING_CONSENT, segment_filter
from notify.settings import NotifySettings
from notify.store.broadcasts import BroadcastStore
from notify.store.drivers import DriverStore
from notify.store.rate_limits import RateLimitStore
from notify.store.units import UnitKind, UnitTree

log = get_logger(__name__)

# How a broadcast's notifications are named: broadcasts made before this field existed take
# their ids from the page place (``paged_notification_id``) until they end.
NOTIFICATION_IDS = "notification_ids"
IDS_BY_DRIVER = "driver"


class Broadcasts:
    def __init__(
        self,
        records: NotificationRecords,
        broadcasts: BroadcastStore,
        *,
        drivers: DriverStore,
        erased: ErasedDrivers,
        rate_limits: RateLimitStore | None = None,
        settings: NotifySettings,
        faults: Faults,
        relay: RelayRef = no_relay,
    ) -> None:
        self._records = records
        self._notifications = records.notifications
        self._clock = records.clock
        self._broadcasts = broadcasts
        self._drivers = drivers
        self._erased = erased
        self._rate_limits = rate_limits
        # The registry's trees as its events told us, for subtree segments (issue 16).
        self._units = UnitTree(drivers.facts.database)
        self._settings = settings
        self._faults = faults
        self._pages = PageAnnouncements(records, faults, settings.broadcast_announcements)
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
        doc[NOTIFICATION_IDS] = IDS_BY_DRIVER
        await self._broadcasts.insert(doc)
        return broadcast

    async def newest(self, after: dict[str, Any] | None, limit: int) -> list[Broadcast]:
        return [broadcast_of(d) for d in await self._broadcasts.newest(after, limit)]

    async def segment_query(self, segment: Segment, category: str) -> Document:
        """The drivers a broadcast of ``category`` to ``segment`` reaches: the resolver pages
        through them, the composer's live count counts them."""
        within = None
        if segment.subtree and segment.value:
            tree: UnitKind = "grid" if segment.kind == "grid" else "organisation"
            within = await self._units.under(tree, segment.value)
        return segment_filter(segment, category=category, within=within)

    async def audience(self, segment: Segment, category: str) -> tuple[int, int]:
        """How many drivers a broadcast would reach now, and how many active drivers the
        segment has (more when a marketing category needs a consent some did not give)."""
        query = await self.segment_query(segment, category)
        reached = await self._drivers.count(query)
        if MARKETING_CONSENT not in query:
            return reached, reached
        del query[MARKETING_CONSENT]
        return reached, await self._drivers.count(query)

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
        query = await self.segment_query(broadcast.segment, broadcast.category)
        after: str | None = doc.get("resolve_after")
        batch_no = int(doc.get("batches_enqueued", 0))
        size = self._settings.broadcast_batch_size
        # Every page's facts are dated from the query's start: the store may answer it from
        # what it found then.
        read_at = self._clock()
        async with aclosing(self._drivers.pages(query, after, size)) as pages:
            async for page in pages:
                if not await self._enqueue(doc, page, batch_no, lease, read_at):
                    return
                batch_no += 1
        if await store.resolved(bid, self._owner, self._clock()):
            await store.complete_if_done(bid, self._clock())

    async def _enqueue(
        self,
        doc: Document,
        page: list[Document],
        batch_no: int,
        lease: timedelta,
        read_at: datetime,
    ) -> bool:
        """Record one page's work item, with its drivers' facts, after the last recorded page;
        False if the lease is lost (or the broadcast cancelled)."""
        bid = doc["_id"]
        work = new_event(
            BroadcastBatch(
                broadcast_id=bid,
                batch_no=batch_no,
                driver_ids=[d["_id"] for d in page],
                facts=PageFacts.of(page),
                read_at=read_at,
            ),
            source=EVENT_SOURCE,
            subject=f"{bid}:{batch_no}",
            event_id=f"{bid}:{batch_no}",
        )
        recorded = await self._broadcasts.record_batch(
            bid,
            owner=self._owner,
            batch_no=batch_no,
            last_driver=page[-1]["_id"],
            size=len(page),
            until=self._clock() + lease,
            work_item=outbox_entry(WORK_TOPIC, work),
        )
        if not recorded:
            log.warning("broadcast lease lost or cancelled; stopping", broadcast_id=bid)
            return False
        self._faults.hit(f"notify.broadcast.enqueued.{batch_no}")
        await self._publish(bid)
        return True

    async def _publish(self, broadcast_id: str) -> None:
        relay = self._relay()
        if relay is not None:
            await relay.flush(self._broadcasts.collection, broadcast_id)

    # ---- fanning a page out ----------------------------------------------------------------

    async def fan_out(self, batch: BroadcastBatch) -> None:
        """One page of a broadcast into notifications; safe to run again for the same page.

        The documents go in as unordered bulk inserts with ids derived from (driver, broadcast,
        channel), so a page fanned out again re-inserts nothing. Their announcements (one
        ``notification.broadcast_delivered.v1`` for the page, or one ``notification.delivered.v1``
        per inbox: ``notify.page_announcements``) are not kept in an outbox: the page's work item
        is the outbox. It is committed only after the announcements are out, so a crash before
        that redelivers the page, which announces the stored inbox items under the same event
        ids; a crash after them and before the page's mark is the only case that announces
        twice (same ids, consumers dedupe)."""
        store = self._broadcasts
        doc = await store.get(batch.broadcast_id)
        now = self._clock()
        if doc is None:
            raise NotFound(batch.broadcast_id)
        broadcast = broadcast_of(doc)
        if broadcast.status in ("cancelled", "expired") or broadcast.expired_at(now):
            await store.batch_done(broadcast.broadcast_id, batch.batch_no, {"skipped": 1}, now)
            return
        if await store.is_batch_done(broadcast.broadcast_id, batch.batch_no):
            await store.complete_if_done(broadcast.broadcast_id, now)
            return
        by_driver = doc.get(NOTIFICATION_IDS) == IDS_BY_DRIVER
        docs = await self._plan_page(broadcast, batch, by_driver)
        await self._pages.store(broadcast.broadcast_id, batch.batch_no, docs)
        await store.batch_done(
            broadcast.broadcast_id, batch.batch_no, {"notifications": len(docs)}, now
        )
        await store.complete_if_done(broadcast.broadcast_id, now)

    async def _plan_page(
        self, broadcast: Broadcast, batch: BroadcastBatch, by_driver: bool
    ) -> list[Document]:
        """Each active driver's notifications; those the broadcast would also send by SMS or
        webhook are rate-limited per driver, checked for the whole page at once."""
        batch_no, driver_ids = batch.batch_no, batch.driver_ids
        now = self._clock()
        cause = Cause(
            source=BROADCAST_SOURCE,
            source_id=broadcast.broadcast_id,
            kind="broadcast",
            category=broadcast.category,
            urgent=broadcast.urgent,
            broadcast_id=broadcast.broadcast_id,
            expires_at=broadcast.expires_at,
            planned_at=now,
        )
        # Independent reads at once: a page's store round trips are its cost (issue 19).
        (facts, carried), prefs, subscriptions, consenting = await asyncio.gather(
            self._page_facts(batch, now),
            self._drivers.preferences_for(driver_ids),
            self._records.subscriptions_for(broadcast.category, driver_ids),
            self._consenting(broadcast.category, driver_ids),
        )
        if carried and not broadcast.urgent:
            await self._texting_as_now(facts, prefs, broadcast.category)

        index = {d: i for i, d in enumerate(driver_ids)}
        rendered = {lang: broadcast.content_for(lang) for lang in LANGUAGES}

        def plan(driver_id: str, driver: DriverFacts, *, limited: bool) -> list[Document]:
            chosen = prefs.get(driver_id)
            language = pick_language(chosen, driver, self._settings.default_language)
            return self._records.plan(
                driver_id,
                cause,
                rendered[language],
                facts=driver,
                prefs=chosen,
                subscriptions=subscriptions[driver_id],
                limited=limited,
                place=PagePlace(batch_no, index[driver_id], self._pages.by_page, by_driver),
            )

        active = {
            d: f
            for d in driver_ids
            if (f := facts.get(d)) is not None
            and f.active
            and (consenting is None or d in consenting)
        }
        planned = {d: plan(d, f, limited=False) for d, f in active.items()}
        # The inbox is never limited: only drivers with another channel need a window slot.
        sending = [d for d, docs in planned.items() if any(x["channel"] != "inbox" for x in docs)]
        for driver_id in await self._over_limit(cause, sending):
            planned[driver_id] = plan(driver_id, active[driver_id], limited=True)
        return [doc for docs in planned.values() for doc in docs]

    async def _consenting(self, category: str, driver_ids: list[str]) -> set[str] | None:
        """For a marketing category, the page's drivers who consent now: the resolver chose
        them by their consent, and a withdrawal since (pages are fanned out up to a broadcast's
        length later) must stop the inbox item too. None: the category needs no consent."""
        if category not in MARKETING_CATEGORIES:
            return None
        return await self._drivers.consenting_to_marketing(driver_ids)

    async def _page_facts(
        self, batch: BroadcastBatch, now: datetime
    ) -> tuple[dict[str, DriverFacts], bool]:
        """The page's drivers' facts, and whether they are the ones its work item carried: those
        (fresh enough) less the drivers erased since, in one read of the page's pseudonyms;
        otherwise read now."""
        carried = batch.carried_facts(now, self._settings.broadcast_facts_fresh_seconds)
        if carried is None:
            return await self._drivers.facts_for(batch.driver_ids), False
        erased = await self._erased.among(list(carried))
        return {d: f for d, f in carried.items() if d not in erased}, True

    async def _texting_as_now(
        self, facts: dict[str, DriverFacts], prefs: dict[str, Preferences], category: str
    ) -> None:
        """A non-urgent SMS waits while its driver drives: the facts of the drivers an SMS
        would reach are read again, as they are now (gone or inactive, they get nothing)."""
        texting = [
            d
            for d in facts
            if (p := prefs.get(d)) is not None and "sms" in p.channels_for(category)
        ]
        if not texting:
            return
        now_known = await self._drivers.facts_for(texting)
        for driver_id in texting:
            if (fresh := now_known.get(driver_id)) is not None:
                facts[driver_id] = fresh
            else:
                del facts[driver_id]

    async def _over_limit(self, cause: Cause, driver_ids: list[str]) -> list[str]:
        if cause.urgent or not driver_ids or self._rate_limits is None:
            return []
        window = rate_window(self._clock(), self._settings.rate_limit_window_seconds)
        positions = await self._rate_limits.positions(
            driver_ids, cause.category, window, f"{cause.source}\x1f{cause.source_id}"
        )
        limit = self._settings.rate_limit_per_window
        return [d for d in driver_ids if positions.get(d, 0) >= limit]


def broadcast_of(doc: Document) -> Broadcast:
    fields = {k: v for k, v in doc.items() if k in Broadcast.model_fields}
    return Broadcast.model_validate({**fields, "broadcast_id": doc["_id"]})
