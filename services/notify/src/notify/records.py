"""What every notify use case shares: the notification records, their outbox and their states.

A notification is one document per driver, cause and channel, with an id derived from all three,
so a cause seen twice plans the same documents and the insert keeps the first. Each state change
that others must hear of (delivered, failed) is one single-document update that also pushes the
event into the document's outbox; it is published right after, or later by the sweeper. The use
cases receive one :class:`NotificationRecords`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.bus import Publisher
from common.clock import Clock
from common.events import new_event
from common.events.notify import NotificationDelivered, NotificationFailed
from common.logging import get_logger
from common.outbox import outbox_entry, outbox_fields
from notify.domain import (
    DriverFacts,
    Preferences,
    Rendered,
    broadcast_notification_id,
    channel_of,
    notification_id,
    paged_notification_id,
)
from notify.partner_links import PartnerAudience
from notify.settings import NotifySettings
from notify.store.notifications import NotificationStore
from notify.store.webhooks import WebhookStore

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/notify"
EVENT_TOPIC = "notify.events"
PHONE_PURPOSE = "phone"
SIGNING_KEY_PURPOSE = "webhook_signing"
# Announcements in flight at once: acks=all round trips pipelined, not one after another.
PUBLISH_CONCURRENCY = 500

Document = dict[str, Any]


@dataclass(frozen=True)
class Cause:
    """What a notification is about: an event (or a broadcast) and where it came from."""

    source: str
    source_id: str
    kind: str
    category: str
    urgent: bool
    broadcast_id: str | None = None
    expires_at: datetime | None = None
    # The planning time of every notification of the cause (a broadcast page's); else each
    # driver's planning reads the clock.
    planned_at: datetime | None = None


# A driver who chose nothing: the defaults (Preferences' own, whoever the driver is).
_NO_CHOICES = Preferences(driver_id="")


@dataclass(frozen=True)
class PagePlace:
    """A broadcast driver's place: the page and their index in it, whether their notifications'
    ids come from the driver (broadcasts made since issue 19's change) or from that place, and
    whether the page's one event announces the inbox delivery (then no per-driver event is
    built for it)."""

    batch_no: int
    index: int
    announced_by_page: bool
    ids_by_driver: bool = True

    def notification_id(self, broadcast_id: str, driver_id: str, channel_key: str) -> str:
        if self.ids_by_driver:
            return broadcast_notification_id(broadcast_id, driver_id, channel_key)
        return paged_notification_id(
            broadcast_id, self.batch_no, self.index, driver_id, channel_key
        )


class NotificationRecords:
    def __init__(
        self,
        notifications: NotificationStore,
        webhooks: WebhookStore,
        *,
        audience: PartnerAudience,
        publisher: Publisher,
        settings: NotifySettings,
        clock: Clock,
    ) -> None:
        self.notifications = notifications
        self._webhooks = webhooks
        self._audience = audience
        self._publisher = publisher
        self._settings = settings
        self.clock = clock

    async def subscriptions(self, category: str) -> list[Document]:
        """The active partner subscriptions to a category."""
        return [s for s in await self._webhooks.active() if category in s["categories"]]

    async def subscriptions_for(
        self, category: str, driver_ids: Sequence[str]
    ) -> dict[str, list[Document]]:
        """Per driver, the subscriptions to a category of the partners linked to that driver."""
        return await self._audience.per_driver(driver_ids, await self.subscriptions(category))

    async def still_reaches(self, driver_id: str, subscription: Document) -> bool:
        """Whether the subscription's partner is still linked to the driver, who still consents
        to notifications: a webhook waits through retries, and either may end meanwhile."""
        return bool((await self._audience.per_driver([driver_id], [subscription]))[driver_id])

    def plan(
        self,
        driver_id: str,
        cause: Cause,
        rendered: Rendered,
        *,
        facts: DriverFacts | None,
        prefs: Preferences | None,
        subscriptions: list[Document],
        limited: bool,
        place: PagePlace | None = None,
    ) -> list[Document]:
        """The notification documents for one driver: one per channel, with their first state;
        a broadcast driver's ``place`` fixes their ids and how the inbox item is announced."""
        now = cause.planned_at or self.clock()
        prefs = prefs or _NO_CHOICES
        quiet_until, driving_until = self._holds(cause, prefs, facts, now)
        docs = []
        for key, subscription in channel_keys(cause, prefs, facts, subscriptions, limited):
            channel = channel_of(key)
            held_until, hold_reason = hold_of(channel, quiet_until, driving_until)
            nid = (
                place.notification_id(cause.broadcast_id, driver_id, key)
                if place is not None and cause.broadcast_id
                else notification_id(driver_id, cause.source, cause.source_id, key)
            )
            doc = first_state(nid, driver_id, key, cause=cause, rendered=rendered, now=now)
            if subscription is not None:
                doc["subscription_id"] = subscription
            if limited:
                doc["collapsed"] = True
            if held_until is not None:
                doc.update(status="held", hold_until=held_until, hold_reason=hold_reason)
                if quiet_until is not None:
                    # The quiet-hours part of a hold: a drive ending early releases no sooner.
                    doc["quiet_until"] = quiet_until
            elif channel == "inbox":
                doc.update(status="delivered", delivered_at=now)
                if not (place is not None and place.announced_by_page):
                    doc.update(outbox_fields(delivered_entry(doc, now)))
            else:
                doc.update(status="queued", next_attempt_at=now)
            if doc["status"] != "delivered":
                # A waiting notification changes state later, each change pushed onto its
                # history, so its history starts here; one delivered at once has none.
                doc["updated_at"] = now
                doc["history"] = [{"status": doc["status"], "at": now, "reason": hold_reason}]
            docs.append(doc)
        return docs

    def _holds(
        self, cause: Cause, prefs: Preferences, facts: DriverFacts | None, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """Until when the driver's quiet hours and current drive last, for a cause that waits."""
        if cause.urgent:
            return None, None
        quiet = prefs.quiet_hours
        tz = self._settings.district_timezone
        return (
            quiet.ends_after(now, tz) if quiet is not None else None,
            facts.driving_at(now) if facts else None,
        )

    async def announce(self, ids: Sequence[str]) -> None:
        """Publish these notifications' pending events now; failures are the caller's."""
        await self.notifications.flush_outbox(self._publisher, ids)

    async def publish_entries(self, entries: Sequence[Document]) -> None:
        """Publish events that were never stored in an outbox (a broadcast page's announcements,
        whose work item is redelivered until they are out), pipelined; failures are the
        caller's."""
        for at in range(0, len(entries), PUBLISH_CONCURRENCY):
            await asyncio.gather(
                *(
                    self._publisher.publish_payload(e["topic"], e["key"], bytes(e["payload"]))
                    for e in entries[at : at + PUBLISH_CONCURRENCY]
                )
            )

    async def announce_or_defer(self, ids: Sequence[str]) -> None:
        try:
            await self.announce(ids)
        except Exception as exc:  # stored; the sweeper publishes it later
            log.warning("notification events deferred to the sweeper", error=type(exc).__name__)

    async def deliver(
        self, doc: Document, *, expect: Document, reference: str | None = None
    ) -> None:
        now = self.clock()
        updated = await self.notifications.transition(
            doc["_id"],
            expect=expect,
            set_fields={"delivered_at": now, "lease_until": None, "hold_until": None}
            | ({"reference": reference} if reference else {}),
            status="delivered",
            at=now,
            outbox=delivered_entry(doc, now),
        )
        if updated is not None:
            await self.announce_or_defer([doc["_id"]])

    async def fail(self, doc: Document, reason: str, *, expect: Document) -> None:
        now = self.clock()
        attempts = int(doc.get("attempts", 0))
        updated = await self.notifications.transition(
            doc["_id"],
            expect=expect,
            set_fields={"reason": reason, "lease_until": None},
            status="failed",
            at=now,
            reason=reason,
            outbox=failed_entry(doc, reason, attempts, now),
        )
        if updated is not None:
            await self.announce_or_defer([doc["_id"]])


def channel_keys(
    cause: Cause,
    prefs: Preferences,
    facts: DriverFacts | None,
    subscriptions: list[Document],
    limited: bool,
) -> list[tuple[str, str | None]]:
    """The channel keys a driver gets a notification on, each with its webhook subscription."""
    if limited:
        return [("inbox", None)]  # collapsed: kept in the inbox, no SMS or partner call
    keys: list[tuple[str, str | None]] = [(c, None) for c in prefs.channels_for(cause.category)]
    fleet = facts.fleet if facts else None
    keys += [
        (f"webhook:{s['_id']}", s["_id"]) for s in subscriptions if s.get("fleet") in (None, fleet)
    ]
    return keys


def first_state(
    nid: str, driver_id: str, key: str, *, cause: Cause, rendered: Rendered, now: datetime
) -> Document:
    """A new notification's fields common to every state. Only what differs from the stored
    form's defaults is stored (store/notifications.py): half the store's work per inbox item of
    a district broadcast (issue 19)."""
    doc: Document = {
        "_id": nid,
        "driver_id": driver_id,
        "source": cause.source,
        "source_id": cause.source_id,
        "kind": cause.kind,
        "channel": channel_of(key),
        "channel_key": key,
        "category": cause.category,
        "language": rendered.language,
        "title": rendered.title,
        "body": rendered.body,
        "status": "",
        "created_at": now,
    }
    if cause.urgent:
        doc["urgent"] = True
    if cause.broadcast_id is not None:
        doc["broadcast_id"] = cause.broadcast_id
    if cause.expires_at is not None:
        doc["expires_at"] = cause.expires_at
    return doc


def hold_of(
    channel: str, quiet_until: datetime | None, driving_until: datetime | None
) -> tuple[datetime | None, str | None]:
    """Until when a non-urgent notification on ``channel`` waits, and why.

    Partner systems (webhooks) are not at the wheel: neither rule concerns them. Quiet hours
    hold the driver's devices, the inbox too; while the driver is driving only the push (SMS)
    waits - the inbox item is stored at once and read when the driver stops.
    """
    if channel == "webhook":
        return None, None
    driving = driving_until if channel == "sms" else None
    if driving is not None and (quiet_until is None or driving > quiet_until):
        return driving, "driving"
    if quiet_until is not None:
        return quiet_until, "quiet_hours"
    return None, None


def delivered_entry(doc: Document, at: datetime) -> Document:
    event = new_event(
        NotificationDelivered(
            notification_id=doc["_id"],
            driver_id=doc["driver_id"],
            channel=doc["channel"],
            category=doc["category"],
            delivered_at=at,
        ),
        source=EVENT_SOURCE,
        subject=doc["driver_id"],
        event_id=f"{doc['_id']}.delivered",
        time=at,
    )
    return outbox_entry(EVENT_TOPIC, event)


def failed_entry(doc: Document, reason: str, attempts: int, at: datetime) -> Document:
    event = new_event(
        NotificationFailed(
            notification_id=doc["_id"],
            driver_id=doc["driver_id"],
            channel=doc["channel"],
            category=doc["category"],
            reason=reason,
            attempts=attempts,
            failed_at=at,
        ),
        source=EVENT_SOURCE,
        subject=doc["driver_id"],
        event_id=f"{doc['_id']}.failed",
        time=at,
    )
    return outbox_entry(EVENT_TOPIC, event)
