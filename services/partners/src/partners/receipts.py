"""What became of a partner's events: applied (learnt from the domain events that name them as
their cause), parked (points holds them for a driver without an account: its announcement
names them) or rejected (learnt from the partner topics' dead-letter queues).

Partners that publish straight to Kafka get the same receipts: every source is a Kafka topic.
Rejections, links of the partner's references and events parked too long are owed to the
partner's webhook once each (``webhooks.py`` sends them).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import ConsumerRecord

from common.clock import Clock, utc_now
from common.events import CloudEvent, InvalidEvent, parse_envelope
from common.events.points import EventParked, PointsAwarded
from common.events.stations import ServiceUsed
from common.partners import PARTNER_SOURCE_PREFIX, partner_of_source, partner_of_topic
from partners.domain import NotFound, receipt_status
from partners.store.notices import NoticeStore
from partners.store.receipts import ReceiptStore
from partners.store.rejections import RejectionStore

Document = dict[str, Any]
PARTNER_SOURCE = PARTNER_SOURCE_PREFIX
REGISTRATION = "driver.registered.v1"


def _iso(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def notice_id(kind: str, *parts: str) -> str:
    """Stable per subject, and plain ASCII (it travels in a header)."""
    return f"{kind}:{uuid.uuid5(uuid.NAMESPACE_URL, chr(31).join(parts))}"


def parked_view(parked: Document | None) -> Document | None:
    if not parked:
        return None
    return {
        "by": parked["by"],
        "driver_id": parked["driver_id"],
        "reason": parked["reason"],
        "since": _iso(parked["since"]),
        "until": _iso(parked["until"]),
    }


# A consumer that failed on its own side (a bug, its store) dead-letters with its exception's
# text: class names and store messages are the operators' (in the DLQ), not the partner's.
NOT_ABOUT_THE_EVENT = frozenset({"handler_failed", "unknown"})
INTERNAL_ERROR = "internal error, reported to the operators"


def refusal_view(refusal: Document) -> Document:
    shown = {**refusal, "dead_lettered_at": refusal.get("dead_lettered_at")}
    if refusal.get("reason") in NOT_ABOUT_THE_EVENT:
        shown["error"] = INTERNAL_ERROR
    return shown


def rejection_view(doc: Document) -> Document:
    return {
        "rejection_id": doc["_id"],
        "event_id": doc.get("event_id"),
        "type": doc.get("type"),
        "subject": doc.get("subject"),
        "topic": doc["original"]["topic"],
        "partition": doc["original"]["partition"],
        "offset": doc["original"]["offset"],
        "recorded_at": _iso(doc["recorded_at"]),
        "refusals": [refusal_view(r) for r in doc.get("refusals", [])],
    }


class Receipts:
    def __init__(
        self,
        receipts: ReceiptStore,
        rejections: RejectionStore,
        notices: NoticeStore,
        *,
        topic_prefix: str,
        parked_notice_after: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self.receipts = receipts
        self.rejections = rejections
        self.notices = notices
        self._prefix = topic_prefix
        self._parked_notice_after = parked_notice_after
        self._clock = clock

    # what partners ask ----------------------------------------------------------------
    async def receipt(self, partner_id: str, event_id: str) -> Document:
        doc = await self.receipts.get(partner_id, event_id)
        if doc is None:
            raise NotFound(f"no event {event_id!r} from this partner is known")
        rejected = await self.rejections.by_ids(list(doc.get("rejections", [])))
        return self._view(partner_id, event_id, doc, rejected)

    def _view(
        self, partner_id: str, event_id: str, doc: Document, rejected: list[Document]
    ) -> Document:
        applied = [{**a, "at": _iso(a.get("at"))} for a in doc.get("applied", [])]
        parked = parked_view(doc.get("parked"))
        return {
            "id": event_id,
            "source": f"{PARTNER_SOURCE}{partner_id}",
            "type": doc.get("type") or (doc.get("parked") or {}).get("type"),
            "status": receipt_status(bool(applied), bool(rejected), parked is not None),
            "via": doc.get("via", "kafka"),
            "accepted_at": _iso(doc.get("accepted_at")),
            "applied": applied,
            "parked": parked,
            "rejections": [rejection_view(r) for r in rejected],
        }

    async def rejections_page(
        self, partner_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Document]:
        return await self.rejections.page(partner_id, after, limit)

    # what the consumers learn ---------------------------------------------------------
    # A cause's source is the partner event's own, checked against its topic by the consumer
    # that took it; read strictly all the same, so a malformed one names no receipt.
    async def on_points_awarded(self, data: PointsAwarded) -> None:
        partner_id = partner_of_source(data.cause_source)
        if partner_id is None:
            return
        applied = {
            "by": "points",
            "type": data.event_type,
            "driver_id": data.driver_id,
            "entry_id": data.entry_id,
            "amount": data.amount,
            "at": data.awarded_at,
        }
        await self.receipts.add_applied(partner_id, data.cause_id, applied, self._clock())

    async def on_service_used(self, data: ServiceUsed) -> None:
        """Stations counted a use a kiosk reported (refused uses are not announced)."""
        partner_id = partner_of_source(data.cause_source)
        if partner_id is None or data.cause_id is None:
            return
        applied = {
            "by": "stations",
            "type": data.event_type,
            "driver_id": data.driver_id,
            "checkin_id": data.checkin_id,
            "at": data.used_at,
        }
        await self.receipts.add_applied(partner_id, data.cause_id, applied, self._clock())

    async def on_event_parked(self, data: EventParked) -> None:
        partner_id = partner_of_source(data.cause_source)
        if partner_id is None:
            return
        parked = {
            "by": "points",
            "type": data.cause_type,
            "driver_id": data.driver_id,
            "reason": data.reason,
            "since": data.parked_at,
            "until": data.parked_until,
        }
        await self.receipts.set_parked(partner_id, data.cause_id, parked, self._clock())

    async def on_driver_linked(
        self, partner_id: str, ref: str, driver_id: str, at: datetime
    ) -> None:
        """The registry linked a partner's reference: its registrations are applied, and the
        partner is told the driver id once."""
        applied = {"by": "registry", "type": "driver.linked", "driver_id": driver_id, "at": at}
        await self.receipts.add_applied_by_subject(partner_id, REGISTRATION, ref, applied)
        body = {"kind": "driver.linked", "ref": ref, "driver_id": driver_id, "linked_at": _iso(at)}
        await self.notices.owe(
            notice_id("linked", partner_id, ref, driver_id), partner_id, body, self._clock()
        )

    async def owe_parked_too_long(self) -> int:
        """Owe a notice for each event held longer than the threshold; returns how many."""
        owed = 0
        cutoff = self._clock() - self._parked_notice_after
        for doc in await self.receipts.parked_since_before(cutoff):
            partner_id, event_id = doc["partner_id"], doc["event_id"]
            body = {
                "kind": "event.parked_too_long",
                "event": self._view(partner_id, event_id, doc, []),
            }
            owed += await self.notices.owe(
                notice_id("parked", partner_id, event_id), partner_id, body, self._clock()
            )
            await self.receipts.mark_parked_noticed(doc["_id"])
        return owed

    async def on_dead_letter(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Record a partner record some consumer dead-lettered; True when newly rejected."""
        headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
        original = headers.get("dlq-original-topic", "")
        partner_id = partner_of_topic(original, self._prefix)
        if partner_id is None:
            return False  # not a partner topic's record (cannot happen with our pattern)
        if record.topic != f"{original}.dlq":
            # A header naming another partner's topic than the queue it sits in: whoever
            # wrote it is not telling that partner about its own records.
            return False
        try:
            event: CloudEvent | None = parse_envelope(record.value or b"")
        except InvalidEvent:
            event = None  # malformed: the rejection still names the record's position
        if event is not None and event.source != f"{PARTNER_SOURCE}{partner_id}":
            event = None  # someone else's id: not this partner's to look up
        partition = int(headers.get("dlq-original-partition", "-1"))
        offset = int(headers.get("dlq-original-offset", "-1"))
        rejection_id = f"{original.removeprefix(self._prefix)}:{partition}:{offset}"
        base = {
            "partner_id": partner_id,
            "event_id": event.id if event else None,
            "type": event.type if event else None,
            "subject": event.subject if event else None,
            "original": {
                "topic": original.removeprefix(self._prefix),
                "partition": partition,
                "offset": offset,
            },
        }
        refusal = {
            "consumer_group": headers.get("dlq-consumer-group", "").removeprefix(self._prefix),
            "reason": headers.get("dlq-reason", "unknown"),
            "error": headers.get("dlq-error", ""),
            "dead_lettered_at": headers.get("dlq-time"),
        }
        now = self._clock()
        new = await self.rejections.record(rejection_id, base, refusal, now)
        if event is not None:
            await self.receipts.add_rejection(partner_id, event.id, rejection_id, now)
        # Owed on every reading (a redelivered DLQ record after a crash): owing is once only.
        recorded = await self.rejections.get(rejection_id)
        if recorded is not None:
            body = {"kind": "rejection", "rejection": rejection_view(recorded)}
            await self.notices.owe(f"rejection:{rejection_id}", partner_id, body, now)
        return new
