"""Broadcast fan-out work items: one per page of drivers, on the service's own Kafka topic.

The topic is internal to notify (not in the partner-facing catalogue, so ``EventConsumer``,
which consumes catalogue topics, does not serve it). Its subscriber keeps the same delivery
rules with public pieces only: manual commits after the effect, poison to the DLQ at once,
transient errors retried with backoff and never dead-lettered, a bug retried a few times and
then dead-lettered instead of stalling the partition.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import ClassVar

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage as InjectedMessage
from faststream.kafka.message import KafkaMessage
from pydantic import Field

from common.bus import TRANSIENT_ERRORS, Publisher
from common.dlq import DeadLetter, dlq_topic
from common.events import EventData, InvalidEvent, parse_data, parse_envelope
from common.logging import get_logger
from common.metrics import EVENTS_CONSUMED
from common.settings import ServiceSettings

log = get_logger(__name__)

WORK_TOPIC = "notify.broadcasts"


class BroadcastBatch(EventData):
    event_type: ClassVar[str] = "notify.broadcast_batch.v1"

    broadcast_id: str
    batch_no: int = Field(ge=0)
    driver_ids: list[str] = Field(max_length=5000)


WorkHandler = Callable[[EventData], Awaitable[None]]


class WorkConsumer:
    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        publisher: Publisher,
        *,
        group_id: str,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._publisher = publisher
        self.group_id = f"{settings.topic_prefix}{group_id}"
        self._failures: dict[tuple[int, int], int] = {}

    def work(self, topic: str, model: type[EventData], handler: WorkHandler) -> None:
        physical = self._settings.topic(topic)
        subscriber = self._broker.subscriber(
            physical,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            max_poll_interval_ms=10 * 60 * 1000,
            max_partition_fetch_bytes=self._settings.max_message_bytes,
        )

        async def on_message(message: InjectedMessage) -> None:
            record = message.raw_message
            assert isinstance(record, ConsumerRecord)
            try:
                event = parse_envelope(record.value or b"")
                if event.type != model.event_type:
                    raise InvalidEvent("unknown_type", f"{event.type} is not a {topic} item")
                await handler(parse_data(event, model))
            except InvalidEvent as exc:
                await self._dead_letter(message, record, exc.reason, str(exc))
                return
            except TRANSIENT_ERRORS as exc:
                await self._retry(message, record, exc, poison_after=None)
                return
            except Exception as exc:
                await self._retry(
                    message, record, exc, poison_after=self._settings.consumer_max_attempts
                )
                return
            self._failures.pop((record.partition, record.offset), None)
            self._count(record, "processed")
            await message.ack()

        subscriber(on_message)

    async def _retry(
        self,
        message: KafkaMessage,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
        *,
        poison_after: int | None,
    ) -> None:
        key = (record.partition, record.offset)
        attempt = self._failures[key] = self._failures.get(key, 0) + 1
        if poison_after is not None and attempt >= poison_after:
            await self._dead_letter(
                message, record, "handler_failed", f"{type(exc).__name__} after {attempt}"
            )
            return
        delay = min(self._settings.consumer_backoff_max_seconds, 0.2 * 2 ** min(attempt, 10))
        delay *= random.uniform(0.5, 1.0)
        log.warning(
            "work item failed; will retry",
            topic=record.topic,
            offset=record.offset,
            error=type(exc).__name__,
            attempt=attempt,
        )
        self._count(record, "retried")
        await asyncio.sleep(delay)
        await message.nack()

    async def _dead_letter(
        self, message: KafkaMessage, record: ConsumerRecord[bytes, bytes], reason: str, error: str
    ) -> None:
        letter = DeadLetter(
            reason=reason,
            error=error,
            group_id=self.group_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        key = (record.key or b"").decode(errors="replace")
        try:
            await self._publisher.publish_raw(
                dlq_topic(record.topic), key, record.value or b"", letter.headers()
            )
        except Exception as exc:
            await self._retry(message, record, exc, poison_after=None)
            return
        log.warning("work item dead-lettered", topic=record.topic, reason=reason)
        self._failures.pop((record.partition, record.offset), None)
        self._count(record, "dlq")
        await message.ack()

    def _count(self, record: ConsumerRecord[bytes, bytes], outcome: str) -> None:
        EVENTS_CONSUMED.labels(
            self._settings.service_name, self.group_id, record.topic, outcome
        ).inc()
