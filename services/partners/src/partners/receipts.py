"""What became of a partner's events: applied (learnt from the domain events that name them as
their cause) or rejected (learnt from the partner topics' dead-letter queues).

Partners that publish straight to Kafka get the same receipts: both sources are Kafka topics.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from common.events import CloudEvent, InvalidEvent, parse_envelope
from common.events.points import PointsAwarded
from common.partners import partner_of_topic
from partners.accounts import Clock, utc_now
from partners.domain import NotFound, receipt_status
from partners.store.receipts import ReceiptStore
from partners.store.rejections import RejectionStore

Document = dict[str, Any]
PARTNER_SOURCE = "partner/"
REGISTRATION = "driver.registered.v1"


def _iso(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


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
        "refusals": [
            {**r, "dead_lettered_at": r.get("dead_lettered_at")} for r in doc.get("refusals", [])
        ],
    }


class Receipts:
    def __init__(
        self,
        receipts: ReceiptStore,
        rejections: RejectionStore,
        *,
        topic_prefix: str,
        clock: Clock = utc_now,
    ) -> None:
        self.receipts = receipts
        self.rejections = rejections
        self._prefix = topic_prefix
        self._clock = clock

    # what partners ask ----------------------------------------------------------------
    async def receipt(self, partner_id: str, event_id: str) -> Document:
        doc = await self.receipts.get(partner_id, event_id)
        if doc is None:
            raise NotFound(f"no event {event_id!r} from this partner is known")
        rejected = await self.rejections.by_ids(list(doc.get("rejections", [])))
        applied = [{**a, "at": _iso(a.get("at"))} for a in doc.get("applied", [])]
        return {
            "id": event_id,
            "source": f"{PARTNER_SOURCE}{partner_id}",
            "type": doc.get("type"),
            "status": receipt_status(bool(applied), bool(rejected)),
            "via": doc.get("via", "kafka"),
            "accepted_at": _iso(doc.get("accepted_at")),
            "applied": applied,
            "rejections": [rejection_view(r) for r in rejected],
        }

    async def rejections_page(
        self, partner_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Document]:
        return await self.rejections.page(partner_id, after, limit)

    # what the consumers learn ---------------------------------------------------------
    async def on_points_awarded(self, event: CloudEvent, data: PointsAwarded) -> None:
        if not data.cause_source.startswith(PARTNER_SOURCE):
            return
        partner_id = data.cause_source.removeprefix(PARTNER_SOURCE)
        applied = {
            "by": "points",
            "type": event.type,
            "driver_id": data.driver_id,
            "entry_id": data.entry_id,
            "amount": data.amount,
            "at": data.awarded_at,
        }
        await self.receipts.add_applied(partner_id, data.cause_id, applied, self._clock())

    async def on_driver_linked(
        self, partner_id: str, ref: str, driver_id: str, at: datetime
    ) -> None:
        """The registry linked a partner's reference: its registrations are applied."""
        applied = {"by": "registry", "type": "driver.linked", "driver_id": driver_id, "at": at}
        await self.receipts.add_applied_by_subject(partner_id, REGISTRATION, ref, applied)

    async def on_dead_letter(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Record a partner record some consumer dead-lettered; True when newly rejected."""
        headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
        original = headers.get("dlq-original-topic", "")
        partner_id = partner_of_topic(original, self._prefix)
        if partner_id is None:
            return False  # not a partner topic's record (cannot happen with our pattern)
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
        return new
