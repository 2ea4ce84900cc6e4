"""Delivery: an event becomes a driver's notifications, and they reach their channels.

An event is planned into one notification per channel (rate-limited, quiet hours respected);
the inbox has it at once, held ones are released when quiet hours end, and the dispatcher sends
SMS and partner webhooks with retries behind a circuit breaker per endpoint, until delivered,
sent (an SMS receipt settles it) or failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from common.events import EventData
from common.logging import get_logger
from common.partner_directory import PartnerDirectory
from common.pii import PiiProtector
from notify.channels.breaker import CircuitBreakers
from notify.channels.senders import DeliveryError, Outcome, SmsGateway, WebhookSender
from notify.channels.targets import TargetPolicy
from notify.domain import Rendered, is_urgent, pick_language, rate_window
from notify.driver_facts import DriverFactsBook
from notify.records import (
    PHONE_PURPOSE,
    SIGNING_KEY_PURPOSE,
    Cause,
    Document,
    NotificationRecords,
)
from notify.segments import MARKETING_CATEGORIES
from notify.settings import NotifySettings
from notify.store.drivers import DriverStore
from notify.store.rate_limits import RateLimitStore
from notify.store.webhooks import WebhookStore
from notify.template_admin import Templates
from notify.templates import render, spec_for, variables_of
from notify.webhooks import is_suspended

log = get_logger(__name__)


@dataclass(frozen=True)
class Channels:
    webhooks: WebhookSender
    sms: SmsGateway
    breakers: CircuitBreakers
    policy: TargetPolicy


@dataclass(frozen=True)
class Notice:
    """An event that may notify its driver, taken out of its envelope."""

    source: str
    event_id: str
    event_type: str
    driver_id: str
    data: EventData
    # What the event also tells about the driver, by group (DriverFactsBook.note); kept first,
    # as the language may come from it.
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # When the event announced them: a replayed older event must not undo newer facts.
    facts_at: datetime | None = None


class CircuitOpen(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"circuit open until {until.isoformat()}")
        self.until = until


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.retryable


@dataclass(frozen=True)
class DeliveryStores:
    """The stores delivery reads besides the notifications themselves."""

    drivers: DriverStore
    webhooks: WebhookStore
    rate_limits: RateLimitStore
    # Which partners partners.events announced suspended: their webhooks are not sent.
    partners: PartnerDirectory


class Delivery:
    def __init__(
        self,
        records: NotificationRecords,
        *,
        stores: DeliveryStores,
        facts: DriverFactsBook,
        templates: Templates,
        channels: Channels,
        pii: PiiProtector,
        settings: NotifySettings,
    ) -> None:
        self._records = records
        self._notifications = records.notifications
        self._clock = records.clock
        self._drivers = stores.drivers
        self._facts = facts
        self._templates = templates
        self._webhooks = stores.webhooks
        self._partners = stores.partners
        self._rate_limits = stores.rate_limits
        self._channels = channels
        self._pii = pii
        self._settings = settings

    # ---- planning: an event into notifications ---------------------------------------------

    async def notify_about(self, notice: Notice) -> list[str]:
        """At most one notification per driver and channel for this event, however often."""
        if notice.facts and notice.facts_at is not None:
            await self._facts.note(notice.driver_id, notice.facts, notice.facts_at)
        spec = spec_for(notice.event_type)
        driver_id = notice.driver_id
        cause = Cause(
            source=notice.source,
            source_id=notice.event_id,
            kind=notice.event_type,
            category=spec.category,
            urgent=is_urgent(spec.category),
        )
        facts = (await self._drivers.facts_for([driver_id])).get(driver_id)
        if facts is not None and not facts.active:
            return []
        prefs = (await self._drivers.preferences_for([driver_id])).get(driver_id)
        language = pick_language(prefs, facts, self._settings.default_language)
        content, language = await self._templates.wording(notice.event_type, language)
        title, body = render(content, variables_of(notice.data, self._settings.district_timezone))
        limited = await self._over_limit(driver_id, cause)
        docs = self._records.plan(
            driver_id,
            cause,
            Rendered(title=title, body=body, language=language),
            facts=facts,
            prefs=prefs,
            subscriptions=(await self._records.subscriptions_for(cause.category, [driver_id]))[
                driver_id
            ],
            limited=limited,
        )
        await self._notifications.insert_new(docs)
        ids = [d["_id"] for d in docs]
        await self._records.announce_or_defer(ids)
        return ids

    async def _over_limit(self, driver_id: str, cause: Cause) -> bool:
        if cause.urgent:
            return False
        window = rate_window(self._clock(), self._settings.rate_limit_window_seconds)
        position = await self._rate_limits.position(
            driver_id, cause.category, window, f"{cause.source}\x1f{cause.source_id}"
        )
        return position >= self._settings.rate_limit_per_window

    async def purge_rate_windows(self) -> None:
        window = rate_window(self._clock(), self._settings.rate_limit_window_seconds)
        await self._rate_limits.purge_before(window - 1)

    # ---- held messages ---------------------------------------------------------------------

    async def release_held(self) -> int:
        now = self._clock()
        released = 0
        for row in await self._notifications.held_due(now, self._settings.dispatch_batch):
            doc = await self._notifications.get(row["_id"])
            if doc is None or doc["status"] != "held":
                continue
            if doc.get("expires_at") and now >= doc["expires_at"]:
                await self._records.fail(doc, "expired", expect={"status": "held"})
            elif doc["channel"] == "inbox":
                await self._records.deliver(doc, expect={"status": "held"})
            elif await self._still_held(doc, now):
                continue
            else:
                await self._notifications.transition(
                    doc["_id"],
                    expect={"status": "held"},
                    set_fields={"next_attempt_at": now, "hold_until": None},
                    status="queued",
                    at=now,
                    reason=f"{doc.get('hold_reason') or 'quiet_hours'}_over",
                )
            released += 1
        return released

    async def _still_held(self, doc: Document, now: datetime) -> bool:
        """A push due for release waits on while quiet hours last (a drive ended before they
        did) or the driver drives again or still (a renewed report)."""
        quiet = doc.get("quiet_until")
        if quiet is not None and quiet > now:
            await self._notifications.rehold(doc["_id"], quiet, "quiet_hours")
            return True
        if doc.get("urgent") or doc["channel"] != "sms":
            return False
        facts = (await self._drivers.facts_for([doc["driver_id"]])).get(doc["driver_id"])
        driving = facts.driving_at(now) if facts else None
        if driving is not None:
            await self._notifications.rehold(doc["_id"], driving, "driving")
            return True
        return False

    # ---- external channels -----------------------------------------------------------------

    async def send_due(self) -> int:
        now = self._clock()
        rows = await self._notifications.send_due(now, self._settings.dispatch_batch)
        until = now + timedelta(seconds=self._settings.send_lease_seconds)
        claimed = []
        for row in rows:
            doc = await self._notifications.claim(row, until)
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
        expect = {"status": "queued"}
        if await self._given_up(doc, expect):
            return
        outcome = await self._send_with_retries(doc, expect)
        if outcome is None:  # deferred behind an open circuit, or failed
            return
        if outcome.status == "delivered":
            await self._records.deliver(doc, expect=expect, reference=outcome.reference)
        else:
            await self._notifications.transition(
                doc["_id"],
                expect=expect,
                set_fields={"sent_at": self._clock(), "lease_until": None}
                | ({"reference": outcome.reference} if outcome.reference else {}),
                status="sent",
                at=self._clock(),
            )

    async def _given_up(self, doc: Document, expect: dict[str, Any]) -> bool:
        """Failed for good, without another try, when expired or out of attempts."""
        if doc.get("expires_at") and self._clock() >= doc["expires_at"]:
            await self._records.fail(doc, "expired", expect=expect)
            return True
        if self._settings.webhook_max_attempts - int(doc.get("attempts", 0)) <= 0:
            await self._records.fail(
                doc, doc.get("last_error") or "attempts_exhausted", expect=expect
            )
            return True
        return False

    async def _send_with_retries(self, doc: Document, expect: dict[str, Any]) -> Outcome | None:
        nid = doc["_id"]
        endpoint = doc["channel_key"]
        attempts = int(doc.get("attempts", 0))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.webhook_max_attempts - attempts),
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
                        await self._notifications.count_attempt(nid, exc.reason)
                        if exc.retryable:
                            self._channels.breakers.failed(endpoint)
                        raise
                    await self._notifications.count_attempt(nid, None)
                    self._channels.breakers.succeeded(endpoint)
        except CircuitOpen as exc:
            await self._notifications.defer(nid, exc.until)
            return None
        except DeliveryError as exc:
            await self._records.fail({**doc, "attempts": attempts}, exc.reason, expect=expect)
            return None
        return outcome

    async def _send_once(self, doc: Document) -> Outcome:
        if doc["channel"] == "webhook":
            subscription = await self._webhooks.get(doc.get("subscription_id") or "")
            if subscription is None or not subscription.get("active"):
                raise DeliveryError("subscription_removed", retryable=False)
            if is_suspended(self._partners, subscription["partner_id"]):
                # Checked before each attempt, like the link and consent below: a notification
                # queued or waiting out a retry when the suspension was announced is not sent
                # either. Final, not held: a reinstated partner gets what happens from then on,
                # never a backlog of drivers' notifications from its suspension.
                raise DeliveryError("partner_suspended", retryable=False)
            if not await self._records.still_reaches(doc["driver_id"], subscription):
                raise DeliveryError("partner_no_longer_reaches_driver", retryable=False)
            return await self._channels.webhooks.send(
                url=subscription["url"],
                secret=self._pii.decrypt(SIGNING_KEY_PURPOSE, subscription["secret_enc"]),
                delivery_id=doc["_id"],
                payload={
                    "notification_id": doc["_id"],
                    "driver_id": doc["driver_id"],
                    "category": doc["category"],
                    "urgent": doc.get("urgent", False),
                    "language": doc["language"],
                    "title": doc["title"],
                    "body": doc["body"],
                    "cause": {"source": doc["source"], "id": doc["source_id"], "type": doc["kind"]},
                    "created_at": doc["created_at"].isoformat(),
                },
            )
        if doc["channel"] == "sms":
            if doc["category"] in MARKETING_CATEGORIES and not (
                await self._drivers.consents_to_marketing(doc["driver_id"])
            ):
                # Withdrawn since the broadcast was resolved (an SMS may wait for hours for
                # the driver's quiet hours to end): what was not yet sent is not sent.
                raise DeliveryError("consent_withdrawn", retryable=False)
            enc = await self._drivers.sms_phone(doc["driver_id"])
            if enc is None:
                raise DeliveryError("no_sms_number", retryable=False)
            return await self._channels.sms.send(
                phone=self._pii.decrypt(PHONE_PURPOSE, enc),
                text=f"{doc['title']}:{doc['body']}",
                out_id=doc["_id"],
            )
        raise DeliveryError(f"channel {doc['channel']} is not sent externally", retryable=False)

    async def sms_receipt(self, out_id: str, delivered: bool, error: str | None) -> bool:
        doc = await self._notifications.get(out_id)
        if doc is None or doc["channel"] != "sms":
            return False
        if delivered:
            await self._records.deliver(doc, expect={"status": "sent"})
        else:
            await self._records.fail(
                doc, f"receipt: {error or 'undelivered'}"[:120], expect={"status": "sent"}
            )
        return True
