"""Kafka plumbing: the broker factory, the publisher and the delivery-rule consumer (topics are
``common.topics``, handlers by event class ``common.dispatch``).

The consumer enforces handbook section 3: explicit group, earliest reset, manual commits only
after the effects are durable or the message is in the DLQ; poison messages go to the DLQ at
once, transient failures are retried with backoff and never dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage as InjectedMessage
from faststream.kafka.message import KafkaMessage
from pymongo.errors import ConnectionFailure, WTimeoutError

from common.dispatch import EventHandler, Typed, check_typed
from common.dlq import DeadLetter, dlq_topic
from common.events import (
    DOMAIN_EVENTS,
    PARTNER_EVENTS,
    CloudEvent,
    InvalidEvent,
    parse_data,
    parse_envelope,
)
from common.faults import Faults
from common.kafka_auth import faststream_security
from common.logging import describe_error, get_logger
from common.metrics import EVENT_HANDLING, EVENTS_CONSUMED, EVENTS_PUBLISHED
from common.partner_directory import PartnerDirectory
from common.partners import PARTNER_TOPIC, partner_of_topic
from common.settings import ServiceSettings

log = get_logger(__name__)

Route = Callable[[CloudEvent, ConsumerRecord[bytes, bytes]], Awaitable[None]]
RecordRoute = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    WTimeoutError,
    KafkaError,
    asyncio.TimeoutError,
    ConnectionError,
)


# Record headers every publisher sets: a correlation id (the one of the record being handled,
# if any, so a chain of events can be followed) and the principal that produced it.
CORRELATION_HEADER = "correlation-id"
PRODUCER_HEADER = "producer"
_correlation: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@dataclass(frozen=True)
class Delivery:
    """Where the record being handled came from: what a handler that keeps an event for later
    (points' parked events) needs to dead-letter it in its place when it gives up."""

    topic: str
    partition: int
    offset: int
    group_id: str


_delivery: ContextVar[Delivery | None] = ContextVar("delivery", default=None)


def current_delivery() -> Delivery | None:
    """The record this task is handling, if it is handling one."""
    return _delivery.get()


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        security=faststream_security(settings),
        client_id=settings.service_name,
        metadata_max_age_ms=int(settings.kafka_metadata_max_age_seconds * 1000),
        enable_idempotence=True,
        acks="all",
        allow_auto_create_topics=False,
        max_request_size=settings.max_message_bytes,
        graceful_timeout=10.0,
        # A plain stdlib logger, so FastStream's lines go through the JSON handler; per-message
        # lines at DEBUG keep a busy consumer's log readable.
        logger=logging.getLogger(f"faststream.{settings.service_name}"),
        log_level=logging.DEBUG,
    )


class Publisher:
    """Publishes envelopes with key = subject so one driver's events stay in order."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self._broker = broker
        self._settings = settings

    async def publish(self, topic: str, event: CloudEvent) -> None:
        await self.publish_raw(self._settings.topic(topic), event.subject, event.to_bytes())

    async def publish_payload(self, topic: str, key: str, payload: bytes) -> None:
        """Publish bytes already serialised (an outbox entry) to a logical topic."""
        await self.publish_raw(self._settings.topic(topic), key, payload)

    async def publish_raw(
        self, physical_topic: str, key: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        correlation_id = _correlation.get() or uuid.uuid4().hex
        principal = self._settings.kafka_username or self._settings.service_name
        await self._broker.publish(
            payload,
            topic=physical_topic,
            key=key.encode(),
            headers={
                "content-type": "application/cloudevents+json",
                CORRELATION_HEADER: correlation_id,
                PRODUCER_HEADER: principal,
                **(headers or {}),
            },
        )
        log.debug(
            "published",
            topic=physical_topic,
            correlation_id=correlation_id,
            principal=principal,
        )
        EVENTS_PUBLISHED.labels(self._settings.service_name, physical_topic).inc()


def _records(message: KafkaMessage) -> tuple[ConsumerRecord[bytes, bytes], ...]:
    """The records a message carries: one from a single subscriber, several from a batch."""
    raw = message.raw_message
    return raw if isinstance(raw, tuple) else (raw,)


def record_header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


def check_writer(event: CloudEvent, topic: str) -> None:
    """A domain (or internal) topic is written by one service only: its name's first part.

    The broker's ACLs already keep other writers out; this is the second line, for a
    misconfigured grant or a super user's mistake."""
    owner = topic.split(".", 1)[0]
    expected = f"driverhome/{owner}"
    if event.source != expected and not event.source.startswith(expected + "/"):
        raise InvalidEvent(
            "source_not_owner", f"{topic} is written by {expected} only, not {event.source}"
        )


def _parsing(route: Route) -> RecordRoute:
    """The route behind an envelope check: a record that is no event is poison."""

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        await route(parse_envelope(record.value or b""), record)

    return handle


@dataclass
class _Attempts:
    """Failures per record, so a handler bug ends in the DLQ instead of a stalled partition."""

    counts: dict[tuple[str, int, int], int] = field(default_factory=dict)

    def bump(self, record: ConsumerRecord[bytes, bytes]) -> int:
        key = (record.topic, record.partition, record.offset)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    def clear(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self.counts.pop((record.topic, record.partition, record.offset), None)


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
        self._attempts = _Attempts()
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
        self, topic: str, handlers: dict[str, EventHandler], *, batch_size: int | None = None
    ) -> None:
        """Consume a domain topic; types in its catalogue without a handler are skipped."""
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
            data = parse_data(event, model)
            handler = handlers.get(event.type)
            if handler is None:
                self._count(record, "skipped")
                return
            await handler(event, data)
            self._count(record, "processed")

        self._subscribe(
            _parsing(route),
            f"{self.group_id}.{topic}",
            topic=self._settings.topic(topic),
            batch_size=batch_size,
        )

    def partners(self, handlers: dict[str, EventHandler], *, batch_size: int | None = None) -> None:
        """Consume every partner topic (by pattern) and check each partner's permissions."""
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
            # Suspended, or not allowed this type, as partners.events says now.
            self.directory.check(partner_id, event.type)
            model = PARTNER_EVENTS.get(event.type)
            if model is None:
                raise InvalidEvent("unknown_type", f"{event.type} is not a partner event type")
            data = parse_data(event, model)
            handler = handlers.get(event.type)
            if handler is None:
                self._count(record, "skipped")
                return
            await handler(event, data)
            self._count(record, "processed")

        self._subscribe(
            _parsing(route),
            f"{self.group_id}.partners",
            pattern=self._settings.partner_topic_pattern,
            batch_size=batch_size,
        )

    def internal(self, topic: str, handler: Typed[Any], *, group: str) -> None:
        """A service's own work topic (not in the partner-facing catalogue), same rules."""
        model = handler.model

        async def route(event: CloudEvent, record: ConsumerRecord[bytes, bytes]) -> None:
            check_writer(event, topic)
            if event.type != model.event_type:
                raise InvalidEvent("unknown_type", f"{event.type} is not a {topic} item")
            await handler(event, parse_data(event, model))
            self._count(record, "processed")

        self._subscribe(
            _parsing(route), f"{self.group_id}.{group}", topic=self._settings.topic(topic)
        )

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
    ) -> None:
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
            batch(self._make_batch_entrypoint(route, group_id))
        else:
            single = self._broker.subscriber(*topics, **common)
            single(self._make_entrypoint(route, group_id))

    def _make_entrypoint(
        self, route: RecordRoute, group_id: str
    ) -> Callable[[KafkaMessage], Awaitable[None]]:
        async def on_message(message: InjectedMessage) -> None:
            (record,) = _records(message)
            if await self._process(record, route, group_id):
                await message.ack()
            else:
                await message.nack()  # seek back: the same record is fetched again

        return on_message

    def _make_batch_entrypoint(
        self, route: RecordRoute, group_id: str
    ) -> Callable[[KafkaMessage], Awaitable[None]]:
        async def on_batch(message: InjectedMessage) -> None:
            for index, record in enumerate(_records(message)):
                if not await self._process(record, route, group_id):
                    # Rewind every partition of the batch; records already handled are
                    # handled again, which their idempotent effects make harmless.
                    await message.nack()
                    return
                self._faults.hit(f"bus.batch.handled.{index}")
            await message.ack()

        return on_batch

    async def _process(
        self, record: ConsumerRecord[bytes, bytes], route: RecordRoute, group_id: str
    ) -> bool:
        """Handle one record: True once its effects are durable or it is in the DLQ."""
        started = time.perf_counter()
        # What this record causes (dead letters, events published while handling it) carries
        # its correlation id.
        token = _correlation.set(record_header(record, CORRELATION_HEADER) or uuid.uuid4().hex)
        delivery = _delivery.set(Delivery(record.topic, record.partition, record.offset, group_id))
        try:
            await route(record)
        except InvalidEvent as exc:
            return await self._dead_letter(record, exc.reason, str(exc), group_id)
        except TRANSIENT_ERRORS as exc:
            await self._back_off(record, exc, transient=True)
            return False
        except Exception as exc:  # a bug or an unexpected state: retry, then dead-letter
            attempt = self._attempts.bump(record)
            if attempt >= self._settings.consumer_max_attempts:
                log.error(
                    "handler failed repeatedly; dead-lettering",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=describe_error(exc),
                    attempts=attempt,
                )
                return await self._dead_letter(
                    record,
                    "handler_failed",
                    f"{describe_error(exc)} (after {attempt} attempts)",
                    group_id,
                )
            await self._back_off(record, exc, transient=False, attempt=attempt)
            return False
        finally:
            _correlation.reset(token)
            _delivery.reset(delivery)
            EVENT_HANDLING.labels(self._settings.service_name, self.group_id).observe(
                time.perf_counter() - started
            )
        self._attempts.clear(record)
        return True

    async def _back_off(
        self,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
        *,
        transient: bool,
        attempt: int | None = None,
    ) -> None:
        if attempt is None:
            attempt = self._attempts.bump(record)
        delay = min(self._settings.consumer_backoff_max_seconds, 0.2 * 2 ** min(attempt, 10))
        delay *= random.uniform(0.5, 1.0)  # jitter: instances must not retry in lockstep
        log.warning(
            "event handling failed; will retry",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=describe_error(exc),
            transient=transient,
            attempt=attempt,
            retry_in_s=round(delay, 2),
        )
        self._count(record, "retried")
        await asyncio.sleep(delay)

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        error: str,
        group_id: str,
    ) -> bool:
        letter = DeadLetter(
            reason=reason,
            error=error,
            group_id=group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        headers = letter.headers()
        key = (record.key or b"").decode(errors="replace")
        try:
            await self._publisher.publish_raw(
                dlq_topic(record.topic), key, record.value or b"", headers
            )
        except Exception as exc:
            # Never commit a poison message that is not safely in the DLQ.
            await self._back_off(record, exc, transient=True)
            return False
        log.warning(
            "event dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            error=headers["dlq-error"],
            correlation_id=_correlation.get(),
            # As the producer stated it; the broker's ACLs are what make it trustworthy.
            producer=record_header(record, PRODUCER_HEADER),
        )
        self._count(record, "dlq")
        self._attempts.clear(record)
        return True

    def _count(self, record: ConsumerRecord[bytes, bytes], outcome: str) -> None:
        EVENTS_CONSUMED.labels(
            self._settings.service_name, self.group_id, record.topic, outcome
        ).inc()
