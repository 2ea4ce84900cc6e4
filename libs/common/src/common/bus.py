"""Kafka plumbing: the delivery-rule consumer (the broker factory and the publisher are
``common.publisher``, re-exported here; topics are ``common.topics``, handlers by event class
``common.dispatch``).

The consumer enforces handbook section 3: explicit group, earliest reset, manual commits only
after the effects are durable or the message is in the DLQ (``common.delivery_rules``: poison
messages go to the DLQ at once, transient failures are retried with backoff and never
dead-lettered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage as InjectedMessage
from faststream.kafka.message import KafkaMessage

from common.batches import BatchHandler
from common.delivery_rules import (
    TRANSIENT_ERRORS,
    Delivery,
    DeliveryRules,
    RecordRoute,
    current_delivery,
)
from common.dispatch import EventHandler, Typed, check_typed
from common.events import (
    DOMAIN_EVENTS,
    PARTNER_EVENTS,
    CloudEvent,
    EventData,
    InvalidEvent,
    parse_data,
    parse_envelope,
)
from common.faults import Faults
from common.partner_directory import PartnerDirectory
from common.partners import PARTNER_TOPIC, partner_of_topic
from common.publisher import (
    CORRELATION_HEADER,
    PRODUCER_HEADER,
    Publisher,
    create_broker,
    record_header,
)
from common.settings import ServiceSettings
from common.topic_owners import check_writer

__all__ = [
    "CORRELATION_HEADER",
    "PRODUCER_HEADER",
    "TRANSIENT_ERRORS",
    "Delivery",
    "EventConsumer",
    "Publisher",
    "check_writer",
    "create_broker",
    "current_delivery",
    "record_header",
]

Route = Callable[[CloudEvent, ConsumerRecord[bytes, bytes]], Awaitable[None]]


def _records(message: KafkaMessage) -> tuple[ConsumerRecord[bytes, bytes], ...]:
    """The records a message carries: one from a single subscriber, several from a batch."""
    raw = message.raw_message
    return raw if isinstance(raw, tuple) else (raw,)


def _parsing(route: Route) -> RecordRoute:
    """The route behind an envelope check: a record that is no event is poison."""

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        await route(parse_envelope(record.value or b""), record)

    return handle


class EventConsumer:
    """Registers delivery-rule subscribers for one consumer group on a FastStream broker."""

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        publisher: Publisher,
        *,
        group_id: str,
        directory: PartnerDirectory | None = None,
        faults: Faults | None = None,
    ) -> None:
        self._broker = broker
        # Test-only failpoints: a crash between a batch's handled records and its commit.
        self._faults = faults or Faults()
        self._settings = settings
        self._publisher = publisher
        self.group_id = f"{settings.topic_prefix}{group_id}"
        self._rules = DeliveryRules(settings, publisher, self.group_id)
        self.directory = directory or PartnerDirectory(settings.partners)
        # Set by partners(): the runtime then feeds the directory from partners.events.
        self.reads_partner_topics = False
        # Per topic, the event types this consumer hands to a handler (its part of the
        # service's contract); partner topics under PARTNER_TOPIC.
        self.handled: dict[str, tuple[str, ...]] = {}
        # (group, physical topic or None, pattern or None) of every subscription: what the DLQ
        # API (common.dlq_api) counts as this service's dead letters and consumer lag.
        self.subscriptions: list[tuple[str, str | None, str | None]] = []

    def domain(
        self,
        topic: str,
        handlers: dict[str, EventHandler],
        *,
        batch_size: int | None = None,
        lanes: int = 1,
    ) -> None:
        """Consume a domain topic; types in its catalogue without a handler are skipped.

        ``lanes`` > 1 (batched subscriptions only) handles up to that many keys of a batch at
        once; only for handlers whose effects on different keys do not depend on each other's
        order."""
        catalogue = DOMAIN_EVENTS[topic]
        unknown = set(handlers) - set(catalogue)
        if unknown:
            raise ValueError(f"no such event types on {topic}: {sorted(unknown)}")
        check_typed(catalogue, handlers)
        self.handled[topic] = tuple(t for t in catalogue if t in handlers)

        async def route(event: CloudEvent, record: ConsumerRecord[bytes, bytes]) -> None:
            check_writer(event, topic)
            model = catalogue.get(event.type)
            if model is None:
                raise InvalidEvent("unknown_type", f"{event.type} is not in the {topic} catalogue")
            await self._hand_over(event, record, model, handlers.get(event.type))

        self._subscribe(
            _parsing(route),
            f"{self.group_id}.{topic}",
            topic=self._settings.topic(topic),
            batch_size=batch_size,
            lanes=lanes,
        )

    def partners(
        self,
        handlers: dict[str, EventHandler],
        *,
        batch_size: int | None = None,
        lanes: int = 1,
    ) -> None:
        """Consume every partner topic (by pattern) and check each partner's permissions;
        ``lanes`` as in ``domain``."""
        check_typed(PARTNER_EVENTS, handlers)
        prefix = self._settings.topic_prefix
        self.reads_partner_topics = True
        self.handled[PARTNER_TOPIC] = tuple(t for t in PARTNER_EVENTS if t in handlers)

        async def route(event: CloudEvent, record: ConsumerRecord[bytes, bytes]) -> None:
            partner_id = partner_of_topic(record.topic, prefix)
            if partner_id is None or self.directory.get(partner_id) is None:
                raise InvalidEvent(
                    "unknown_partner", f"topic {record.topic} has no catalogued partner"
                )
            if event.source != f"partner/{partner_id}":
                raise InvalidEvent("source_mismatch", f"source must be partner/{partner_id}")
            if record.key is not None and record.key != (event.subject or "").encode():
                # The key is the subject (handbook section 2): keyed otherwise, one driver's
                # events would land on several partitions and lose their order.
                raise InvalidEvent("key_mismatch", "the record key must be the event's subject")
            # Suspended, or not allowed this type, as partners.events says now.
            self.directory.check(partner_id, event.type)
            model = PARTNER_EVENTS.get(event.type)
            if model is None:
                raise InvalidEvent("unknown_type", f"{event.type} is not a partner event type")
            await self._hand_over(event, record, model, handlers.get(event.type))

        self._subscribe(
            _parsing(route),
            f"{self.group_id}.partners",
            pattern=self._settings.partner_topic_pattern,
            batch_size=batch_size,
            lanes=lanes,
        )

    def internal(
        self,
        topic: str,
        handler: Typed[Any],
        *,
        group: str,
        batch_size: int | None = None,
        lanes: int = 1,
    ) -> None:
        """A service's own work topic (not in the partner-facing catalogue), same rules;
        ``batch_size`` and ``lanes`` as in ``domain``."""
        model = handler.model

        async def route(event: CloudEvent, record: ConsumerRecord[bytes, bytes]) -> None:
            check_writer(event, topic)
            if event.type != model.event_type:
                raise InvalidEvent("unknown_type", f"{event.type} is not a {topic} item")
            await handler(event, parse_data(event, model))
            self._rules.count(record, "processed")

        self._subscribe(
            _parsing(route),
            f"{self.group_id}.{group}",
            topic=self._settings.topic(topic),
            batch_size=batch_size,
            lanes=lanes,
        )

    async def _hand_over(
        self,
        event: CloudEvent,
        record: ConsumerRecord[bytes, bytes],
        model: type[EventData],
        handler: EventHandler | None,
    ) -> None:
        """Parse the data (invalid data is poison even without a handler), then handle it."""
        data = parse_data(event, model)
        if handler is None:
            self._rules.count(record, "skipped")
            return
        await handler(event, data)
        self._rules.count(record, "processed")

    def records(self, pattern: str, handler: RecordRoute, *, group: str) -> None:
        """Records that need not be events (dead letters), from every topic matching a pattern
        of physical names, with the same delivery rules; nothing is parsed for the handler."""
        self._subscribe(handler, f"{self.group_id}.{group}", pattern=pattern)

    def _subscribe(
        self,
        route: RecordRoute,
        group_id: str,
        *,
        topic: str | None = None,
        pattern: str | None = None,
        batch_size: int | None = None,
        lanes: int = 1,
    ) -> None:
        if lanes > 1 and not batch_size:
            raise ValueError("key lanes need a batched subscription")
        common: dict[str, Any] = {
            "pattern": pattern,
            # One group per subscription: members with different subscriptions in one group
            # would rebalance each other at every start.
            "group_id": group_id,
            "auto_offset_reset": "earliest",
            "ack_policy": AckPolicy.MANUAL,
            # A stalled handler (store down) must not get the member evicted mid-retry.
            "max_poll_interval_ms": 10 * 60 * 1000,
            "max_partition_fetch_bytes": self._settings.max_message_bytes,
        }
        topics = [topic] if topic else []
        self.subscriptions.append((group_id, topic, pattern))
        if batch_size:
            # Batches are the throughput lever: one offset commit per batch instead of one per
            # message; each record is still handled (and dead-lettered) on its own.
            batch = self._broker.subscriber(
                *topics, batch=True, max_records=batch_size, batch_timeout_ms=50, **common
            )
            batch(self._make_batch_entrypoint(route, group_id, lanes))
        else:
            single = self._broker.subscriber(*topics, **common)
            single(self._make_entrypoint(route, group_id))

    def _make_entrypoint(
        self, route: RecordRoute, group_id: str
    ) -> Callable[[KafkaMessage], Awaitable[None]]:
        async def on_message(message: InjectedMessage) -> None:
            (record,) = _records(message)
            if await self._rules.process(record, route, group_id):
                await message.ack()
            else:
                await message.nack()  # seek back: the same record is fetched again

        return on_message

    def _make_batch_entrypoint(
        self, route: RecordRoute, group_id: str, lanes: int
    ) -> Callable[[KafkaMessage], Awaitable[None]]:
        batches = BatchHandler(self._rules, route, group_id, lanes=lanes, faults=self._faults)

        async def on_batch(message: InjectedMessage) -> None:
            if await batches.handle(_records(message)):
                await message.ack()
            else:
                await message.nack()  # rewind every partition of the batch

        return on_batch
