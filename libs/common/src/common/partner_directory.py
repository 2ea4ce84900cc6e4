"""Who may write which partner topic now: a read model of ``partners.events``.

Every service that consumes partner topics checks each record against this directory. It starts
from the configured catalogue (``ServiceSettings.partners``, so a platform without the partners
service works as before), then reads ``partners.events`` from its beginning before the first
partner record is consumed, and keeps following it: a partner registered, changed, suspended or
reinstated by the partners service is treated so from the moment the event is read, without a
restart. The topic is compacted and keyed by partner id, and each event carries the account's
whole state, so reading it from the start rebuilds the directory however old it is.

Every instance reads the whole topic on its own (no consumer group): each needs every partner.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.events import DOMAIN_EVENTS, InvalidEvent, parse_data, parse_envelope
from common.events.partners import PartnerState, PartnerStatus
from common.kafka_auth import settings_options
from common.logging import describe_error, get_logger
from common.partners import PartnerCatalogue
from common.settings import ServiceSettings
from common.topic_owners import check_writer
from common.topics import ensure_topics

log = get_logger(__name__)

PARTNERS_TOPIC = "partners.events"
_UNKNOWN_TOPIC = 3


@dataclass(frozen=True)
class PartnerEntry:
    partner_id: str
    allowed_types: frozenset[str]
    status: PartnerStatus
    # 0: from configuration; announced states start at 1 and only grow.
    version: int = 0


class PartnerDirectory:
    """The partners' permissions as last announced (or configured, before any announcement)."""

    def __init__(self, catalogue: PartnerCatalogue) -> None:
        self._entries = {
            partner_id: PartnerEntry(partner_id, frozenset(types), "active")
            for partner_id, types in catalogue.items()
        }

    def get(self, partner_id: str) -> PartnerEntry | None:
        return self._entries.get(partner_id)

    def check(self, partner_id: str | None, event_type: str) -> None:
        """Raise the dead-letter reason a record of this partner and type deserves, if any."""
        entry = self._entries.get(partner_id or "")
        if partner_id is None or entry is None:
            raise InvalidEvent("unknown_partner", "the topic has no catalogued partner")
        if entry.status != "active":
            raise InvalidEvent("partner_suspended", f"{partner_id} is suspended")
        if event_type not in entry.allowed_types:
            raise InvalidEvent("type_not_allowed", f"{partner_id} may not send {event_type}")

    def apply(self, state: PartnerState) -> bool:
        """Take an announced state unless a newer one is known; True when it changed."""
        known = self._entries.get(state.partner_id)
        if known is not None and known.version >= state.version:
            return False
        self._entries[state.partner_id] = PartnerEntry(
            state.partner_id, frozenset(state.allowed_types), state.status, state.version
        )
        return True


class PartnerDirectoryFeed:
    """Feeds a :class:`PartnerDirectory` from ``partners.events``: catch up, then follow."""

    def __init__(
        self,
        settings: ServiceSettings,
        directory: PartnerDirectory,
        *,
        catch_up_seconds: float = 30.0,
        poll_ms: int = 500,
    ) -> None:
        self._settings = settings
        self.directory = directory
        self._topic = settings.topic(PARTNERS_TOPIC)
        self._catch_up_seconds = catch_up_seconds
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the topic up to its current end, then keep following it in the background."""
        consumer = AIOKafkaConsumer(
            **settings_options(self._settings),
            client_id=f"{self._settings.service_name}-partner-directory",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self._settings.max_message_bytes,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            partitions = await self._described_partitions()
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            await self._catch_up(consumer, partitions)
        except BaseException:
            await consumer.stop()
            self._consumer = None
            raise
        self._task = asyncio.create_task(self._follow(consumer), name="partner-directory")

    async def _described_partitions(self) -> list[TopicPartition]:
        # A topic created a moment ago may be described without partitions until its metadata
        # has spread; assigning nothing would leave the directory deaf to every later change.
        deadline = time.monotonic() + self._catch_up_seconds
        admin = AIOKafkaAdminClient(
            **settings_options(self._settings),
            client_id=f"{self._settings.service_name}-partner-directory-admin",
        )
        await admin.start()
        recreated = False
        try:
            while True:
                described = await admin.describe_topics([self._topic])
                partitions = [
                    TopicPartition(self._topic, p["partition"])
                    for t in described
                    for p in t.get("partitions") or ()
                ]
                if partitions:
                    return partitions
                codes = {t.get("error_code", 0) for t in described}
                if codes == {_UNKNOWN_TOPIC} and not recreated:
                    # Seen on a loaded broker: the start-up creation left no topic behind.
                    # Creating it again is harmless (it exists, or it is ours to create).
                    log.warning("partner directory topic unknown; creating it", topic=self._topic)
                    await ensure_topics(self._settings, [PARTNERS_TOPIC])
                    recreated = True
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self._topic} has no partitions to read (Kafka errors {sorted(codes)})"
                    )
                await asyncio.sleep(0.2)
        finally:
            await admin.close()

    async def _catch_up(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        ends = await consumer.end_offsets(partitions) if partitions else {}
        deadline = time.monotonic() + self._catch_up_seconds
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._topic} was not read to its end in time")
            for records in (await consumer.getmany(timeout_ms=self._poll_ms)).values():
                self._apply_all(records)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                for records in (await consumer.getmany(timeout_ms=self._poll_ms)).values():
                    self._apply_all(records)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away: the consumer reconnects by itself
                log.warning("partner directory read failed", error=describe_error(exc))
                await asyncio.sleep(1.0)

    def _apply_all(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        models = DOMAIN_EVENTS[PARTNERS_TOPIC]
        for record in records:
            try:
                event = parse_envelope(record.value or b"")
                model = models.get(event.type)
                if model is None:
                    raise InvalidEvent("unknown_type", f"{event.type} is not a partners event")
                if not issubclass(model, PartnerState):
                    continue  # the service's other facts (erasure confirmations): no account
                # The ACLs keep other writers out; this is the second line, as on every topic.
                check_writer(event, PARTNERS_TOPIC)
                state = parse_data(event, model)
            except InvalidEvent as exc:
                # Only the partners service writes this topic; a record it cannot have written
                # changes nothing here and is reported, never applied.
                log.error(
                    "partner directory skipped a record",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    reason=exc.reason,
                )
                continue
            if self.directory.apply(state):
                log.info(
                    "partner directory changed",
                    partner_id=state.partner_id,
                    status=state.status,
                    version=state.version,
                )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
