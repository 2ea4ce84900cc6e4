"""Notify use cases: turn causes into notifications, deliver them, and let people manage them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from common.bus import Publisher
from common.events import CloudEvent, EventData, new_event
from common.events.notify import NotificationDelivered, NotificationFailed
from common.faults import Faults
from common.logging import get_logger
from common.outbox import OutboxRelay, outbox_entry
from common.pii import PiiProtector, is_valid_phone, mask_phone, normalise_phone
from notify.channels.breaker import CircuitBreakers
from notify.channels.senders import DeliveryError, Outcome, SmsGateway, WebhookSender
from notify.channels.signing import new_secret
from notify.channels.targets import TargetPolicy
from notify.clock import Clock
from notify.domain import (
    BROADCAST_SOURCE,
    Broadcast,
    Conflict,
    Content,
    DriverFacts,
    InvalidPreferences,
    InvalidTemplate,
    Language,
    NotFound,
    Preferences,
    QuietHours,
    Rendered,
    Segment,
    channel_of,
    check_broadcast,
    is_urgent,
    new_broadcast_id,
    new_subscription_id,
    notification_id,
    pick_language,
    rate_window,
)
from notify.fanout import WORK_TOPIC, BroadcastBatch
from notify.segments import segment_filter
from notify.settings import NotifySettings
from notify.store.broadcasts import BroadcastStore
from notify.store.drivers import DriverStore, preferences_of
from notify.store.notifications import NotificationStore
from notify.store.rate_limits import RateLimitStore
from notify.store.templates import TemplateStore
from notify.store.webhooks import WebhookStore
from notify.templates import DEFAULTS, render, spec_for, validate, variables_of

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/notify"
EVENT_TOPIC = "notify.events"
PHONE_PURPOSE = "phone"
SIGNING_KEY_PURPOSE = "webhook_signing"

Document = dict[str, Any]


@dataclass(frozen=True)
class Stores:
    notifications: NotificationStore
    drivers: DriverStore
    templates: TemplateStore
    webhooks: WebhookStore
    broadcasts: BroadcastStore
    rate_limits: RateLimitStore


@dataclass(frozen=True)
class Channels:
    webhooks: WebhookSender
    sms: SmsGateway
    breakers: CircuitBreakers
    policy: TargetPolicy


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


class CircuitOpen(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"circuit open until {until.isoformat()}")
        self.until = until


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.retryable


class NotifyService:
    def __init__(
        self,
        stores: Stores,
        channels: Channels,
        *,
        settings: NotifySettings,
        clock: Clock,
        publisher: Publisher,
        pii: PiiProtector,
        faults: Faults,
    ) -> None:
        self.stores = stores
        self._channels = channels
        self._settings = settings
        self._clock = clock
        self._publisher = publisher
        self._pii = pii
        self._faults = faults
        self._relay = OutboxRelay(
            [], publisher, sweep_seconds=settings.outbox_sweep_seconds, service="notify"
        )
        self._owner = f"notify-{uuid.uuid4().hex[:12]}"

    # ---- causes from domain events -------------------------------------------------------

    async def note_registration(
        self, driver_id: str, fleet: str | None, language: str | None, *, grid: str | None = None
    ) -> None:
        facts: Document = {"fleet": fleet, "grid": grid}
        if language:
            facts["language"] = language
        await self.stores.drivers.note_facts(driver_id, facts, self._clock.now())

    async def note_facts(self, driver_id: str, facts: Document) -> None:
        """Segmenting facts a registry update announced (fleet, grid, active again)."""
        await self.stores.drivers.note_facts(driver_id, facts, self._clock.now())

    async def note_grade(self, driver_id: str, grade: str) -> None:
        await self.stores.drivers.note_facts(driver_id, {"grade": grade}, self._clock.now())

    async def note_deactivation(self, driver_id: str, erased: bool) -> None:
        if erased:
            await self.stores.drivers.forget(driver_id)
        else:
            await self.stores.drivers.note_facts(driver_id, {"active": False}, self._clock.now())

    async def notify_about(self, event: CloudEvent, data: EventData) -> list[str]:
        """At most one notification per driver and channel for this event, however often."""
        spec = spec_for(event.type)
        driver_id = event.subject
        cause = Cause(
            source=event.source,
            source_id=event.id,
            kind=event.type,
            category=spec.category,
            urgent=is_urgent(spec.category),
        )
        facts = (await self.stores.drivers.facts_for([driver_id])).get(driver_id)
        if facts is not None and not facts.active:
            return []
        prefs = (await self.stores.drivers.preferences_for([driver_id])).get(driver_id)
        language = pick_language(prefs, facts, self._settings.default_language)
        content, language = await self._template(event.type, language)
        title, body = render(content, variables_of(data, self._settings.timezone))
        limited = await self._over_limit(driver_id, cause)
        docs = self._plan(
            driver_id,
            cause,
            Rendered(title=title, body=body, language=language),
            facts=facts,
            prefs=prefs,
            subscriptions=await self._subscriptions(cause.category),
            limited=limited,
        )
        await self.stores.notifications.insert_new(docs)
        ids = [d["_id"] for d in docs]
        await self._flush(ids)
        return ids

    async def _template(self, event_type: str, language: Language) -> tuple[Content, Language]:
        candidates: tuple[Language, ...] = (language, "zh-CN")
        for lang in candidates:
            stored = await self.stores.templates.get(event_type, lang)
            if stored is not None:
                return Content(title=stored["title"], body=stored["body"]), lang
            default = DEFAULTS.get(event_type, {}).get(lang)
            if default is not None:
                return default, lang
        raise InvalidTemplate(f"no template for {event_type}")

    async def _over_limit(self, driver_id: str, cause: Cause) -> bool:
        if cause.urgent:
            return False
        window = rate_window(self._clock.now(), self._settings.rate_limit_window_seconds)
        position = await self.stores.rate_limits.position(
            driver_id, cause.category, window, f"{cause.source}\x1f{cause.source_id}"
        )
        return position >= self._settings.rate_limit_per_window

    async def _subscriptions(self, category: str) -> list[Document]:
        return [s for s in await self.stores.webhooks.active() if category in s["categories"]]

    def _plan(
        self,
        driver_id: str,
        cause: Cause,
        rendered: Rendered,
        *,
        facts: DriverFacts | None,
        prefs: Preferences | None,
        subscriptions: list[Document],
        limited: bool,
    ) -> list[Document]:
        """The notification documents for one driver: one per channel, with their first state."""
        now = self._clock.now()
        prefs = prefs or Preferences(driver_id=driver_id)
        hold_until = None
        if not cause.urgent and prefs.quiet_hours is not None:
            hold_until = prefs.quiet_hours.ends_after(now, self._settings.timezone)
        keys: list[tuple[str, str | None]] = [(c, None) for c in prefs.channels_for(cause.category)]
        if limited:
            keys = [("inbox", None)]  # collapsed: kept in the inbox, no SMS or partner call
        else:
            fleet = facts.fleet if facts else None
            keys += [
                (f"webhook:{s['_id']}", s["_id"])
                for s in subscriptions
                if s.get("fleet") in (None, fleet)
            ]
        docs = []
        for key, subscription in keys:
            channel = channel_of(key)
            # Partner systems are not at the wheel: quiet hours concern the driver's devices.
            held = hold_until is not None and channel != "webhook"
            nid = notification_id(driver_id, cause.source, cause.source_id, key)
            if held:
                status = "held"
            elif channel == "inbox":
                status = "delivered"
            else:
                status = "queued"
            doc: Document = {
                "_id": nid,
                "driver_id": driver_id,
                "source": cause.source,
                "source_id": cause.source_id,
                "kind": cause.kind,
                "channel": channel,
                "channel_key": key,
                "subscription_id": subscription,
                "category": cause.category,
                "urgent": cause.urgent,
                "collapsed": limited,
                "language": rendered.language,
                "title": rendered.title,
                "body": rendered.body,
                "status": status,
                "attempts": 0,
                "reason": None,
                "created_at": now,
                "updated_at": now,
                "hold_until": hold_until if held else None,
                "next_attempt_at": now if status == "queued" else None,
                "lease_until": None,
                "expires_at": cause.expires_at,
                "broadcast_id": cause.broadcast_id,
                "read_at": None,
                "archived_at": None,
                "history": [{"status": status, "at": now, "reason": None}],
                "outbox": [],
            }
            if status == "delivered":
                doc["delivered_at"] = now
                doc["outbox"] = [self._delivered_entry(doc, now)]
            docs.append(doc)
        return docs

    def _delivered_entry(self, doc: Document, at: datetime) -> Document:
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

    def _failed_entry(self, doc: Document, reason: str, attempts: int, at: datetime) -> Document:
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

    async def _flush(self, ids: list[str]) -> None:
        try:
            await self.stores.notifications.flush_outbox(self._publisher, ids)
        except Exception as exc:  # stored; the sweeper publishes it later
            log.warning("notification events deferred to the sweeper", error=type(exc).__name__)

    # ---- delivery: held messages and external channels -----------------------------------

    async def release_held(self) -> int:
        now = self._clock.now()
        released = 0
        for row in await self.stores.notifications.held_due(now, self._settings.dispatch_batch):
            doc = await self.stores.notifications.get(row["_id"])
            if doc is None or doc["status"] != "held":
                continue
            if doc.get("expires_at") and now >= doc["expires_at"]:
                await self._fail(doc, "expired", expect={"status": "held"})
            elif doc["channel"] == "inbox":
                await self._deliver(doc, expect={"status": "held"})
            else:
                await self.stores.notifications.transition(
                    doc["_id"],
                    expect={"status": "held"},
                    set_fields={"next_attempt_at": now, "hold_until": None},
                    status="queued",
                    at=now,
                    reason="quiet_hours_over",
                )
            released += 1
        return released

    async def _deliver(
        self, doc: Document, *, expect: Document, reference: str | None = None
    ) -> None:
        now = self._clock.now()
        updated = await self.stores.notifications.transition(
            doc["_id"],
            expect=expect,
            set_fields={"delivered_at": now, "lease_until": None, "hold_until": None}
            | ({"reference": reference} if reference else {}),
            status="delivered",
            at=now,
            outbox=self._delivered_entry(doc, now),
        )
        if updated is not None:
            await self._flush([doc["_id"]])

    async def _fail(self, doc: Document, reason: str, *, expect: Document) -> None:
        now = self._clock.now()
        attempts = int(doc.get("attempts", 0))
        updated = await self.stores.notifications.transition(
            doc["_id"],
            expect=expect,
            set_fields={"reason": reason, "lease_until": None},
            status="failed",
            at=now,
            reason=reason,
            outbox=self._failed_entry(doc, reason, attempts, now),
        )
        if updated is not None:
            await self._flush([doc["_id"]])

    async def send_due(self) -> int:
        now = self._clock.now()
        rows = await self.stores.notifications.send_due(now, self._settings.dispatch_batch)
        until = now + timedelta(seconds=self._settings.send_lease_seconds)
        claimed = []
        for row in rows:
            doc = await self.stores.notifications.claim(row["_id"], now, until)
            if doc is not None:
                claimed.append(doc)
        limit = asyncio.Semaphore(20)

        async def one(doc: Document) -> None:
            async with limit:
                try:
                    await self._send(doc)
                except Exception as exc:  # the lease runs out and another pass retries it
                    log.warning("send failed unexpectedly", error=type(exc).__name__)

        await asyncio.gather(*(one(d) for d in claimed))
        return len(claimed)

    async def _send(self, doc: Document) -> None:
        nid = doc["_id"]
        expect = {"status": "queued"}
        if doc.get("expires_at") and self._clock.now() >= doc["expires_at"]:
            await self._fail(doc, "expired", expect=expect)
            return
        remaining = self._settings.webhook_max_attempts - int(doc.get("attempts", 0))
        if remaining <= 0:
            await self._fail(doc, doc.get("last_error") or "attempts_exhausted", expect=expect)
            return
        endpoint = doc["channel_key"]
        attempts = int(doc.get("attempts", 0))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(remaining),
            wait=wait_exponential_jitter(
                multiplier=self._settings.webhook_backoff_initial_seconds,
                max=self._settings.webhook_backoff_max_seconds,
                jitter=self._settings.webhook_backoff_initial_seconds,
            ),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        outcome: Outcome | None = None
        try:
            async for attempt in retrying:
                with attempt:
                    until = self._channels.breakers.open_until(endpoint)
                    if until is not None:
                        raise CircuitOpen(until)
                    attempts += 1
                    try:
                        outcome = await self._send_once(doc)
                    except DeliveryError as exc:
                        await self.stores.notifications.count_attempt(nid, exc.reason)
                        if exc.retryable:
                            self._channels.breakers.failed(endpoint)
                        raise
                    await self.stores.notifications.count_attempt(nid, None)
                    self._channels.breakers.succeeded(endpoint)
        except CircuitOpen as exc:
            await self.stores.notifications.defer(nid, exc.until)
            return
        except DeliveryError as exc:
            await self._fail({**doc, "attempts": attempts}, exc.reason, expect=expect)
            return
        assert outcome is not None
        if outcome.status == "delivered":
            await self._deliver(doc, expect=expect, reference=outcome.reference)
        else:
            await self.stores.notifications.transition(
                nid,
                expect=expect,
                set_fields={"sent_at": self._clock.now(), "lease_until": None}
                | ({"reference": outcome.reference} if outcome.reference else {}),
                status="sent",
                at=self._clock.now(),
            )

    async def _send_once(self, doc: Document) -> Outcome:
        if doc["channel"] == "webhook":
            subscription = await self.stores.webhooks.get(doc.get("subscription_id") or "")
            if subscription is None or not subscription.get("active"):
                raise DeliveryError("subscription_removed", retryable=False)
            return await self._channels.webhooks.send(
                url=subscription["url"],
                secret=self._pii.decrypt(SIGNING_KEY_PURPOSE, subscription["secret_enc"]),
                delivery_id=doc["_id"],
                payload={
                    "notification_id": doc["_id"],
                    "driver_id": doc["driver_id"],
                    "category": doc["category"],
                    "urgent": doc["urgent"],
                    "language": doc["language"],
                    "title": doc["title"],
                    "body": doc["body"],
                    "cause": {"source": doc["source"], "id": doc["source_id"], "type": doc["kind"]},
                    "created_at": doc["created_at"].isoformat(),
                },
            )
        if doc["channel"] == "sms":
            enc = await self.stores.drivers.sms_phone(doc["driver_id"])
            if enc is None:
                raise DeliveryError("no_sms_number", retryable=False)
            return await self._channels.sms.send(
                phone=self._pii.decrypt(PHONE_PURPOSE, enc),
                text=f"{doc['title']}:{doc['body']}",
                out_id=doc["_id"],
            )
        raise DeliveryError(f"channel {doc['channel']} is not sent externally", retryable=False)

    async def sms_receipt(self, out_id: str, delivered: bool, error: str | None) -> bool:
        doc = await self.stores.notifications.get(out_id)
        if doc is None or doc["channel"] != "sms":
            return False
        if delivered:
            await self._deliver(doc, expect={"status": "sent"})
        else:
            await self._fail(
                doc, f"receipt: {error or 'undelivered'}"[:120], expect={"status": "sent"}
            )
        return True

    # ---- inbox -----------------------------------------------------------------------------

    async def inbox(
        self,
        driver_id: str,
        *,
        after: dict[str, Any] | None,
        limit: int,
        unread_only: bool = False,
        archived: bool = False,
    ) -> list[Document]:
        return await self.stores.notifications.inbox(
            driver_id, after=after, limit=limit, unread_only=unread_only, archived=archived
        )

    async def unread_count(self, driver_id: str) -> int:
        return await self.stores.notifications.unread_count(driver_id)

    async def mark(
        self, driver_id: str, notification_id: str, action: Literal["read", "unread", "archive"]
    ) -> Document:
        field, value = {
            "read": ("read_at", self._clock.now()),
            "unread": ("read_at", None),
            "archive": ("archived_at", self._clock.now()),
        }[action]
        doc = await self.stores.notifications.set_inbox_flag(
            driver_id, notification_id, field, value
        )
        if doc is None:
            raise NotFound(notification_id)
        return doc

    async def notification(self, notification_id: str) -> Document:
        doc = await self.stores.notifications.get(notification_id)
        if doc is None:
            raise NotFound(notification_id)
        return doc

    # ---- preferences -----------------------------------------------------------------------

    async def preferences(self, driver_id: str) -> Preferences:
        doc = await self.stores.drivers.get_preferences(driver_id)
        return preferences_of(doc) if doc else Preferences(driver_id=driver_id)

    async def set_preferences(
        self,
        driver_id: str,
        *,
        language: Language | None,
        channels: dict[str, list[Literal["inbox", "sms"]]],
        quiet_hours: QuietHours | None,
        sms_phone: str | None,
        clear_sms_phone: bool,
    ) -> Preferences:
        fields: Document = {
            "language": language,
            "channels": channels,
            "quiet_hours": quiet_hours.model_dump(mode="json") if quiet_hours else None,
        }
        if clear_sms_phone:
            fields["sms_phone"] = None
        elif sms_phone is not None:
            phone = normalise_phone(sms_phone)
            if not is_valid_phone(phone):
                raise InvalidPreferences("sms_phone is not a valid mainland mobile number")
            fields["sms_phone"] = self._pii.protect(
                PHONE_PURPOSE, phone, mask_phone(phone)
            ).model_dump()
        doc = await self.stores.drivers.save_preferences(driver_id, fields, self._clock.now())
        return preferences_of(doc)

    # ---- templates -------------------------------------------------------------------------

    async def template(self, event_type: str, language: Language) -> tuple[Content, bool]:
        """The text in use and whether an operator set it (False: the built-in default)."""
        spec_for(event_type)
        stored = await self.stores.templates.get(event_type, language)
        if stored is not None:
            return Content(title=stored["title"], body=stored["body"]), True
        default = DEFAULTS.get(event_type, {}).get(language)
        if default is None:
            raise NotFound(f"{event_type}/{language}")
        return default, False

    async def save_template(
        self, event_type: str, language: Language, content: Content, by: str
    ) -> Document:
        validate(event_type, content)
        return await self.stores.templates.save(
            event_type, language, content, by, self._clock.now()
        )

    async def reset_template(self, event_type: str, language: Language) -> bool:
        return await self.stores.templates.delete(event_type, language)

    # ---- webhooks (partners) ---------------------------------------------------------------

    async def subscribe(
        self, partner_id: str, url: str, categories: list[str], fleet: str | None
    ) -> tuple[Document, str]:
        await self._channels.policy.check(url)
        secret = new_secret()
        doc: Document = {
            "_id": new_subscription_id(),
            "partner_id": partner_id,
            "url": url,
            "categories": sorted(set(categories)),
            "fleet": fleet,
            "active": True,
            "secret_enc": self._pii.encrypt(SIGNING_KEY_PURPOSE, secret),
            "created_at": self._clock.now(),
        }
        await self.stores.webhooks.insert(doc)
        return doc, secret

    # ---- broadcasts ------------------------------------------------------------------------

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
    ) -> Broadcast:
        now = self._clock.now()
        when = scheduled_at or now
        urgent = check_broadcast(category, urgency, content, when, expires_at)
        broadcast = Broadcast(
            broadcast_id=new_broadcast_id(),
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
        await self.stores.broadcasts.insert(doc)
        return broadcast

    async def broadcast(
        self, broadcast_id: str
    ) -> tuple[Broadcast, dict[str, dict[str, int]], int]:
        doc = await self.stores.broadcasts.get(broadcast_id)
        if doc is None:
            raise NotFound(broadcast_id)
        progress = await self.stores.notifications.progress(broadcast_id)
        batches_done = await self.stores.broadcasts.batches_done(broadcast_id)
        return broadcast_of(doc), progress, batches_done

    async def cancel_broadcast(self, broadcast_id: str) -> Broadcast:
        doc = await self.stores.broadcasts.cancel(broadcast_id, self._clock.now())
        if doc is None:
            if await self.stores.broadcasts.get(broadcast_id) is None:
                raise NotFound(broadcast_id)
            raise Conflict("the broadcast is already finished")
        return broadcast_of(doc)

    async def start_due_broadcasts(self) -> int:
        """Resolve due broadcasts into batches; resumes after the last recorded page."""
        now = self._clock.now()
        started = 0
        for row in await self.stores.broadcasts.due(now, 10):
            lease = timedelta(seconds=self._settings.broadcast_lease_seconds)
            doc = await self.stores.broadcasts.claim(row["_id"], self._owner, now, now + lease)
            if doc is None:
                continue
            started += 1
            await self._resolve(doc, lease)
        return started

    async def _resolve(self, doc: Document, lease: timedelta) -> None:
        broadcast = broadcast_of(doc)
        bid = broadcast.broadcast_id
        store = self.stores.broadcasts
        if broadcast.expired_at(self._clock.now()):
            await store.collection.update_one(
                {"_id": bid, "lease_owner": self._owner}, {"$set": {"status": "expired"}}
            )
            return
        # Publish anything a crash left queued before adding more.
        await self._relay.flush(store.collection, bid)
        query = segment_filter(broadcast.segment)
        after: str | None = doc.get("resolve_after")
        batch_no = int(doc.get("batches_enqueued", 0))
        while True:
            page = await self.stores.drivers.page(query, after, self._settings.broadcast_batch_size)
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
                until=self._clock.now() + lease,
                work_item=outbox_entry(WORK_TOPIC, work),
            )
            if not recorded:
                log.warning("broadcast lease lost or cancelled; stopping", broadcast_id=bid)
                return
            self._faults.hit(f"notify.broadcast.enqueued.{batch_no}")
            await self._relay.flush(store.collection, bid)
            after, batch_no = page[-1], batch_no + 1
        if await store.resolved(bid, self._owner, self._clock.now()):
            await store.complete_if_done(bid, self._clock.now())

    async def fan_out(self, batch: BroadcastBatch) -> None:
        """One page of a broadcast into notifications; safe to run again for the same page."""
        store = self.stores.broadcasts
        doc = await store.get(batch.broadcast_id)
        now = self._clock.now()
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
        facts = await self.stores.drivers.facts_for(batch.driver_ids)
        prefs = await self.stores.drivers.preferences_for(batch.driver_ids)
        subscriptions = await self._subscriptions(broadcast.category)
        docs: list[Document] = []
        for driver_id in batch.driver_ids:
            driver = facts.get(driver_id)
            if driver is None or not driver.active:
                continue
            chosen = prefs.get(driver_id)
            language = pick_language(chosen, driver, self._settings.default_language)
            docs += self._plan(
                driver_id,
                cause,
                broadcast.content_for(language),
                facts=driver,
                prefs=chosen,
                subscriptions=subscriptions,
                limited=False,
            )
        await self.stores.notifications.insert_new(docs)
        self._faults.hit(f"notify.broadcast.batch_written.{batch.batch_no}")
        await self.stores.notifications.flush_outbox(self._publisher, [d["_id"] for d in docs])
        await store.batch_done(
            broadcast.broadcast_id, batch.batch_no, {"notifications": len(docs)}, now
        )
        await store.complete_if_done(broadcast.broadcast_id, now)

    async def purge_rate_windows(self) -> None:
        window = rate_window(self._clock.now(), self._settings.rate_limit_window_seconds)
        await self.stores.rate_limits.purge_before(window - 1)


def broadcast_of(doc: Document) -> Broadcast:
    fields = {k: v for k, v in doc.items() if k in Broadcast.model_fields}
    return Broadcast.model_validate({**fields, "broadcast_id": doc["_id"]})
