"""Publishing to Kafka: the broker factory, the publisher and the headers every record carries."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from common.events import CloudEvent
from common.kafka_auth import faststream_security
from common.logging import get_logger
from common.metrics import EVENTS_PUBLISHED
from common.settings import ServiceSettings

log = get_logger(__name__)

# Record headers every publisher sets: a correlation id (the one of the record being handled,
# if any, so a chain of events can be followed) and the principal that produced it.
CORRELATION_HEADER = "correlation-id"
PRODUCER_HEADER = "producer"
# Set by the consumer while it handles a record (common.bus).
correlation: ContextVar[str | None] = ContextVar("correlation_id", default=None)


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
        correlation_id = correlation.get() or uuid.uuid4().hex
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


def record_header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None
