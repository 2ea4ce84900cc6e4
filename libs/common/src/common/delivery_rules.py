"""Handbook section 3 for one record: effects durable or the record in the DLQ before its offset
is committed; poison to the DLQ at once, transient failures retried with backoff and never
dead-lettered, other failures retried a few times and then dead-lettered."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, WTimeoutError

from common import batch_end
from common.dlq import DeadLetter, dlq_topic
from common.events import InvalidEvent
from common.logging import describe_error, get_logger
from common.metrics import EVENT_HANDLING, EVENTS_CONSUMED
from common.publisher import (
    CORRELATION_HEADER,
    PRODUCER_HEADER,
    Publisher,
    correlation,
    record_header,
)
from common.settings import ServiceSettings

log = get_logger(__name__)

RecordRoute = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    WTimeoutError,
    KafkaError,
    asyncio.TimeoutError,
    ConnectionError,
)


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


class DeliveryRules:
    """Handles the records of one consumer (metrics under its group id) by these rules."""

    def __init__(self, settings: ServiceSettings, publisher: Publisher, group_id: str) -> None:
        self._settings = settings
        self._publisher = publisher
        self._group_id = group_id
        self._attempts = _Attempts()

    async def process(
        self, record: ConsumerRecord[bytes, bytes], route: RecordRoute, group_id: str
    ) -> bool:
        """Handle one record: True once its effects are durable or it is in the DLQ."""
        started = time.perf_counter()
        # What this record causes (dead letters, events published while handling it) carries
        # its correlation id.
        token = correlation.set(record_header(record, CORRELATION_HEADER) or uuid.uuid4().hex)
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
            correlation.reset(token)
            _delivery.reset(delivery)
            EVENT_HANDLING.labels(self._settings.service_name, self._group_id).observe(
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
        self.count(record, "retried")
        await _send_batch_steps()
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
            correlation_id=correlation.get(),
            # As the producer stated it; the broker's ACLs are what make it trustworthy.
            producer=record_header(record, PRODUCER_HEADER),
        )
        self.count(record, "dlq")
        self._attempts.clear(record)
        return True

    def count(self, record: ConsumerRecord[bytes, bytes], outcome: str) -> None:
        EVENTS_CONSUMED.labels(
            self._settings.service_name, self._group_id, record.topic, outcome
        ).inc()


async def _send_batch_steps() -> None:
    """Before a record of a batch waits out its back-off (up to the maximum), the steps the
    batch's other records left to its end are sent: their effects would otherwise wait as long
    (an award applied and announced, its entry still read as pending). A failure here is left
    to the batch's end, which tries until they are sent."""
    end = batch_end.current()
    if end is None:
        return
    try:
        await end.send()
    except Exception as exc:
        log.warning("a batch's deferred steps failed before a back-off", error=describe_error(exc))
