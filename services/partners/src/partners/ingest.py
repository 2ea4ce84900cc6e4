"""HTTP ingest: events from partners without Kafka, validated before they are accepted.

An event is checked exactly as every partner-topic consumer would check it (envelope, the types
the partner may send, the type's data), with ``source`` set to the caller's own. A good one is
written to ``partner.<id>.events`` with ``acks=all`` before it is answered as accepted. Its
receipt remembers the payload's fingerprint: the same ``(source, id)`` with the same payload
answers as the first time (and is published again only if the first attempt never got that
far); with another payload it is refused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from common.bus import Publisher
from common.clock import Clock, utc_now
from common.events import PARTNER_EVENTS, CloudEvent, InvalidEvent, parse_data, parse_envelope
from common.idempotency import fingerprint
from partners.bus_check import always_ready
from partners.domain import (
    ConflictingDuplicate,
    EventRefused,
    OverLimit,
    Partner,
    PartnerNotProvisioned,
    PartnerSuspended,
)
from partners.store.quotas import QuotaStore
from partners.store.receipts import ReceiptStore, receipt_key


@dataclass(frozen=True)
class Limits:
    rate_per_second: int
    daily: int
    timezone: str
    max_message_bytes: int


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted event: 202 accepted, 409 or 422 refused."""

    status: int
    event_id: str | None
    receipt: dict[str, Any] | None = None
    reason: str | None = None
    detail: str | None = None


class Ingest:
    def __init__(
        self,
        receipts: ReceiptStore,
        quotas: QuotaStore,
        publisher: Publisher,
        limits: Limits,
        *,
        topic_of: Callable[[str], str],
        topic_ready: Callable[[str], Awaitable[bool]] = always_ready,
        clock: Clock = utc_now,
    ) -> None:
        self._topic_ready = topic_ready
        self._receipts = receipts
        self._quotas = quotas
        self._publisher = publisher
        self._limits = limits
        self._topic_of = topic_of
        self._clock = clock
        self._zone = ZoneInfo(limits.timezone)

    async def admit(self, partner: Partner, count: int) -> None:
        """Refuse a suspended partner, then take ``count`` events from its rate and quota."""
        if partner.status != "active":
            raise PartnerSuspended(partner.partner_id)
        if not await self._topic_ready(partner.partner_id):
            raise PartnerNotProvisioned(partner.partner_id)
        now = self._clock()
        rate = partner.quotas.rate_per_second or self._limits.rate_per_second
        second = int(now.timestamp())
        if not await self._quotas.take(f"rate:{partner.partner_id}", second, count, rate):
            raise OverLimit("rate", 1)
        daily = partner.quotas.daily or self._limits.daily
        local = now.astimezone(self._zone)
        if not await self._quotas.take(
            f"day:{partner.partner_id}", local.date().isoformat(), count, daily
        ):
            midnight = datetime.combine(
                local.date() + timedelta(days=1), datetime.min.time(), self._zone
            )
            raise OverLimit("daily", max(1, int((midnight - local).total_seconds()) + 1))

    def validate(self, partner: Partner, submitted: Any) -> CloudEvent:
        """The event as consumers will see it, or the reason they would dead-letter it."""
        if not isinstance(submitted, dict):
            raise EventRefused("malformed_envelope", "<root>: an event is a JSON object")
        # The caller's own source, whatever the body says.
        envelope = {**submitted, "source": partner.source}
        try:
            raw = json.dumps(envelope, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:  # JSON lets a string escape half a surrogate pair
            detail = "<root>: a string holds a lone surrogate"
            raise EventRefused("malformed_envelope", detail) from exc
        try:
            event = parse_envelope(raw)
            model = PARTNER_EVENTS.get(event.type)
            if model is None:
                raise InvalidEvent("unknown_type", f"{event.type} is not a partner event type")
            if event.type not in partner.allowed_types:
                raise InvalidEvent(
                    "type_not_allowed", f"{partner.partner_id} may not send {event.type}"
                )
            parse_data(event, model)
        except InvalidEvent as exc:
            raise EventRefused(exc.reason, exc.detail) from exc
        if len(event.to_bytes()) > self._limits.max_message_bytes:
            raise EventRefused("too_large", "the event exceeds the largest Kafka record")
        return event

    async def accept(self, partner: Partner, event: CloudEvent) -> dict[str, Any]:
        """Put a valid event on the partner's topic once; the receipt's view as answered."""
        received = {
            "event_id": event.id,
            "type": event.type,
            "subject": event.subject,
            "fingerprint": fingerprint(event),
        }
        receipt = await self._receipts.claim(partner.partner_id, received, self._clock())
        if receipt.get("fingerprint") != received["fingerprint"]:
            raise ConflictingDuplicate(event.source, event.id)
        if not receipt.get("published"):
            await self._publisher.publish_raw(
                self._topic_of(partner.partner_id), event.subject, event.to_bytes()
            )
            receipt = (
                await self._receipts.mark_published(
                    receipt_key(partner.partner_id, event.id), self._clock()
                )
                or receipt
            )
        return accepted_view(partner, receipt)

    async def submit(self, partner: Partner, submitted: list[Any]) -> list[Outcome]:
        """Validate each event, then accept the valid ones concurrently."""
        outcomes: list[Outcome | None] = [None] * len(submitted)
        valid: list[tuple[int, CloudEvent]] = []
        for index, item in enumerate(submitted):
            event_id = _answerable_id(item)
            try:
                valid.append((index, self.validate(partner, item)))
            except EventRefused as refused:
                outcomes[index] = Outcome(
                    422, event_id, reason=refused.reason, detail=refused.detail
                )

        async def one(index: int, event: CloudEvent) -> None:
            try:
                outcomes[index] = Outcome(202, event.id, receipt=await self.accept(partner, event))
            except ConflictingDuplicate as refused:
                outcomes[index] = Outcome(
                    409, event.id, reason=refused.reason, detail=refused.detail
                )

        await asyncio.gather(*(one(i, e) for i, e in valid))
        return [o for o in outcomes if o is not None]


def _answerable_id(item: Any) -> str | None:
    """The item's id as its result may echo it: a string the answer can encode in UTF-8."""
    event_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(event_id, str):
        return None
    try:
        event_id.encode()
    except UnicodeEncodeError:
        return None
    return event_id


def accepted_view(partner: Partner, receipt: dict[str, Any]) -> dict[str, Any]:
    accepted_at = receipt.get("accepted_at") or receipt.get("received_at")
    if isinstance(accepted_at, datetime):
        accepted_at = accepted_at.astimezone(UTC).isoformat()
    return {
        "id": receipt["event_id"],
        "source": partner.source,
        "type": receipt.get("type"),
        "status": "accepted",
        "accepted_at": accepted_at,
        "receipt": f"/v1/events/{receipt['event_id']}",
    }
