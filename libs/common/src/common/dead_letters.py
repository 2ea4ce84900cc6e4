"""A service's dead letters as Kafka holds them: its DLQ topics, their records, its consumer lag.

"The service's DLQ topics" are the ``.dlq`` twins of the topics its consumers subscribe to (by
name or by pattern), and "its records" are those its own consumer groups dead-lettered: a
domain topic's twin is shared by every service that consumes that topic (``registry.events.dlq``
holds points', stations' and notify's dead letters), and each service answers for its own only.

Reads use a consumer without a group (partitions assigned by hand, nothing committed), so
browsing never moves anybody's offsets; it and an admin client live as long as the service
(``common.runtime`` closes them). A listing reads at most :data:`SCAN_LIMIT` records per
request and says when it stopped early.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.bus import EventConsumer
from common.dlq import DLQ_SUFFIX, dlq_topic
from common.kafka_auth import settings_options
from common.settings import ServiceSettings

# Records read per request at most (counting or paging): dead letters are few by design, and
# an operator's page must answer even when a flood filled a queue.
SCAN_LIMIT = 10_000
_POLL_MS = 500


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of a DLQ topic: where it sits, the original bytes and the ``dlq-*`` headers."""

    topic: str  # logical name of the DLQ topic (``registry.events.dlq``)
    partition: int
    offset: int
    timestamp: datetime
    key: bytes
    value: bytes
    headers: dict[str, str]

    @property
    def group(self) -> str:
        return self.headers.get("dlq-consumer-group", "")


@dataclass(frozen=True)
class Scan:
    """Records found (in partition, offset order), where to continue, and whether it ended."""

    records: list[DeadLetterRecord]
    count: int
    next_position: tuple[int, int] | None
    complete: bool


@dataclass(frozen=True)
class PartitionLag:
    topic: str  # logical
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {k: bytes(v).decode(errors="replace") for k, v in (record.headers or ())}


class DeadLetters:
    """The dead letters and consumer lag of one service (its consumers' subscriptions)."""

    def __init__(self, settings: ServiceSettings, consumers: Sequence[EventConsumer]) -> None:
        self._settings = settings
        self._subscriptions = [s for c in consumers for s in c.subscriptions]
        self.groups = frozenset(group for group, _, _ in self._subscriptions)
        self._client_id = f"{settings.service_name}-dlq"
        self._starting = asyncio.Lock()
        self._reading = asyncio.Lock()
        self._admin_client: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None

    def logical(self, physical: str) -> str:
        return physical.removeprefix(self._settings.topic_prefix)

    def owns(self, record: DeadLetterRecord) -> bool:
        """Dead-lettered by one of this service's groups (also an overridden group's, e.g.
        ``points-replay``, whose name still starts with the service's)."""
        if record.group in self.groups:
            return True
        base = record.group.removeprefix(self._settings.topic_prefix)
        return base.startswith(self._settings.service_name)

    @asynccontextmanager
    async def _admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        """The service's one admin client for this, started on first use (a start costs a
        bootstrap and an authentication: too much for every page an operator opens)."""
        async with self._starting:
            if self._admin_client is None:
                options = settings_options(self._settings)
                admin = AIOKafkaAdminClient(**options, client_id=self._client_id)
                await admin.start()
                self._admin_client = admin
        yield self._admin_client

    @asynccontextmanager
    async def _consumer(self) -> AsyncIterator[AIOKafkaConsumer]:
        """The one reading consumer, one request at a time (assignments and positions are its
        state), started on first use."""
        async with self._reading:
            if self._reader is None:
                reader = AIOKafkaConsumer(
                    **settings_options(self._settings),
                    client_id=self._client_id,
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_partition_fetch_bytes=self._settings.max_message_bytes,
                    # A long poll would hold every next offsets request and seek of a reused
                    # consumer for its whole wait (500 ms by default).
                    fetch_max_wait_ms=50,
                )
                await reader.start()
                self._reader = reader
            try:
                yield self._reader
            finally:
                self._reader.unsubscribe()  # idle between requests: nothing assigned, no fetch

    async def close(self) -> None:
        async with self._reading:
            if self._reader is not None:
                await self._reader.stop()
                self._reader = None
        async with self._starting:
            if self._admin_client is not None:
                await self._admin_client.close()
                self._admin_client = None

    async def _topics(self, admin: AIOKafkaAdminClient) -> list[str]:
        existing = set(await admin.list_topics())
        sources: set[str] = set()
        for _, topic, pattern in self._subscriptions:
            if topic is not None:
                sources.add(topic)
            elif pattern is not None:
                sources.update(t for t in existing if re.fullmatch(pattern, t))
        return sorted(
            dlq_topic(t) for t in sources if not t.endswith(DLQ_SUFFIX) and dlq_topic(t) in existing
        )

    @staticmethod
    async def _partitions(
        admin: AIOKafkaAdminClient, physicals: list[str]
    ) -> dict[str, list[TopicPartition]]:
        """Each topic's partitions, in order (from the admin client's metadata: a consumer
        without a subscription fetches none)."""
        described = await admin.describe_topics(physicals) if physicals else []
        return {
            t["topic"]: [
                TopicPartition(t["topic"], n)
                for n in sorted(p["partition"] for p in t.get("partitions") or ())
            ]
            for t in described
        }

    async def topics(self) -> list[str]:
        """The physical DLQ topics that exist for what this service consumes, sorted."""
        async with self._admin() as admin:
            return await self._topics(admin)

    async def exists(self, physical: str) -> bool:
        async with self._admin() as admin:
            return physical in set(await admin.list_topics())

    async def physical(self, logical_dlq: str) -> str | None:
        """The physical name of one of this service's DLQ topics; None for any other name."""
        wanted = self._settings.topic(logical_dlq)
        return wanted if wanted in await self.topics() else None

    async def counts(self) -> dict[str, Scan]:
        """Every DLQ topic of the service with its own records counted (one admin and one
        consumer session for all: the console's home page asks every service)."""
        async with self._admin() as admin:
            physicals = await self._topics(admin)
            partitions = await self._partitions(admin, physicals)
        if not physicals:
            return {}
        async with self._consumer() as consumer:
            return {
                physical: await self._scan(consumer, partitions.get(physical, []), None, None)
                for physical in physicals
            }

    async def scan(
        self,
        physical: str,
        *,
        after: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> Scan:
        """This service's records of a DLQ topic in (partition, offset) order, from just after
        ``after``; up to ``limit`` kept (None: count them all), at most SCAN_LIMIT read."""
        async with self._admin() as admin:
            tps = (await self._partitions(admin, [physical])).get(physical, [])
        async with self._consumer() as consumer:
            return await self._scan(consumer, tps, after, limit)

    async def _scan(
        self,
        consumer: AIOKafkaConsumer,
        tps: list[TopicPartition],
        after: tuple[int, int] | None,
        limit: int | None,
    ) -> Scan:
        found: list[DeadLetterRecord] = []
        count = read = 0
        begins = await consumer.beginning_offsets(tps) if tps else {}
        ends = await consumer.end_offsets(tps) if tps else {}
        for tp in tps:
            start = begins[tp]
            if after is not None:
                if tp.partition < after[0]:
                    continue
                if tp.partition == after[0]:
                    start = max(start, after[1] + 1)
            async for record in self._read(consumer, tp, start, ends[tp]):
                read += 1
                if self.owns(record):
                    count += 1
                    if limit is not None:
                        found.append(record)
                full = limit is not None and len(found) >= limit
                if full or read >= SCAN_LIMIT:
                    position = (record.partition, record.offset)
                    return Scan(found, count, position, complete=False)
        return Scan(found, count, None, complete=True)

    async def _read(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
    ) -> AsyncIterator[DeadLetterRecord]:
        if start >= end:
            return
        consumer.assign([tp])
        consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=_POLL_MS)
            for record in batch.get(tp, ()):
                if record.offset >= end:
                    return
                yield DeadLetterRecord(
                    topic=self.logical(tp.topic),
                    partition=record.partition,
                    offset=record.offset,
                    timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
                    key=record.key or b"",
                    value=record.value or b"",
                    headers=_headers(record),
                )

    async def record(
        self, physical: str, partition: int, offset: int, *, anyones: bool = False
    ) -> DeadLetterRecord | None:
        """One of this service's records by its place; None when absent or another's.
        ``anyones``: whoever dead-lettered it (the twin of a topic the service owns, whose
        records it replays for every consumer)."""
        tp = TopicPartition(physical, partition)
        async with self._admin() as admin:
            if tp not in (await self._partitions(admin, [physical])).get(physical, []):
                return None
        async with self._consumer() as consumer:
            begin = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            if not begin <= offset < end:
                return None
            async for found in self._read(consumer, tp, offset, offset + 1):
                mine = anyones or self.owns(found)
                return found if found.offset == offset and mine else None
        return None

    async def lag(self) -> dict[str, list[PartitionLag]]:
        """Per consumer group of this service: committed offset and end of each partition."""
        out: dict[str, list[PartitionLag]] = {}
        async with self._admin() as admin:
            committed = {g: await admin.list_consumer_group_offsets(g) for g in sorted(self.groups)}
        partitions: set[TopicPartition] = {tp for offsets in committed.values() for tp in offsets}
        ends: dict[TopicPartition, int] = {}
        if partitions:
            async with self._consumer() as consumer:
                ends = await consumer.end_offsets(list(partitions))
        for group, offsets in committed.items():
            out[group] = [
                PartitionLag(
                    self.logical(tp.topic),
                    tp.partition,
                    meta.offset if meta.offset >= 0 else None,
                    ends.get(tp, 0),
                )
                for tp, meta in sorted(offsets.items(), key=lambda i: (i[0].topic, i[0].partition))
            ]
        return out


def lag_total(partitions: Iterable[PartitionLag]) -> int:
    return sum(max(0, p.lag) for p in partitions)
