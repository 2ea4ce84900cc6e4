"""What every service runs: store client, indexes, topics, broker, consumers and outbox relay.

Each service's ``app.py`` describes its parts and hands them to :func:`service_runtime`, so
start-up order and shutdown (also on failure) are the same everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from common.bus import EventConsumer, Publisher, create_broker
from common.dead_letters import DeadLetters
from common.dlq_replay import INDEXES as DLQ_REPLAY_INDEXES
from common.faults import Faults
from common.key_rotation import KeyRotation, RotatedCollection, rotation_job
from common.logging import get_logger
from common.mongo import Indexes, create_client, database, ensure_indexes, ping
from common.outbox import OutboxRelay, outbox_indexes
from common.partner_directory import PartnerDirectory, PartnerDirectoryFeed
from common.periodic import Periodic
from common.pii import PiiProtector
from common.retention import RetentionPurge, RetentionRule
from common.settings import ServiceSettings
from common.topics import all_topics, ensure_consumed, ensure_topics

log = get_logger(__name__)

Document = dict[str, Any]


@dataclass
class Runtime:
    settings: ServiceSettings
    db: AsyncDatabase[Document]
    broker: KafkaBroker
    publisher: Publisher
    faults: Faults
    directory: PartnerDirectory
    relay: OutboxRelay | None = None
    purge: RetentionPurge | None = None
    key_rotation: KeyRotation | None = None
    key_rotation_loop: Periodic | None = None
    directory_feed: PartnerDirectoryFeed | None = None
    # The service's dead letters and consumer lag (common.dlq_api), once its consumers are wired.
    dead_letters: DeadLetters | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    # The service's personal data classes (set while wiring), kept to their periods by purge.
    retention: list[RetentionRule] = field(default_factory=list)
    # Per collection (set while wiring): what the service re-derives from a document (by _id)
    # after a write outside its use cases - before the relay's sweeper republishes what a crash
    # left in its outbox, and after the key rotation rewrote the document's protected values.
    rederive: dict[str, Callable[[Any], Awaitable[None]]] = field(default_factory=dict)

    def consumer(self, group_id: str) -> EventConsumer:
        consumer = EventConsumer(
            self.broker,
            self.settings,
            self.publisher,
            group_id=self.settings.consumer_group or group_id,
            directory=self.directory,
            faults=self.faults,
        )
        self.consumers.append(consumer)
        return consumer


@asynccontextmanager
async def service_runtime(
    settings: ServiceSettings,
    *,
    indexes: Sequence[Indexes],
    outbox_collections: Sequence[str] = (),
    wire: Callable[[Runtime], None] | None = None,
    prepare: Callable[[Runtime], Awaitable[None]] | None = None,
    store: AsyncDatabase[Document] | None = None,
    broker: KafkaBroker | None = None,
    rotated: Sequence[RotatedCollection] = (),
) -> AsyncIterator[Runtime]:
    """Start the parts in dependency order.

    ``wire`` registers the service's consumers; ``prepare`` runs after the indexes exist and
    before the first message is consumed; ``rotated`` names where the service keeps personal
    values, which the key rotation job rewrites under the current PII keys.
    """
    client: AsyncMongoClient[Document] | None = None
    if store is None:
        client = create_client(settings)
        store = database(client, settings)
    kafka = broker or create_broker(settings)
    runtime = Runtime(
        settings=settings,
        db=store,
        broker=kafka,
        publisher=Publisher(kafka, settings),
        faults=Faults(settings.faults),
        directory=PartnerDirectory(settings.partners),
    )
    try:
        # Every service's replay ledger (common.dlq_api) and the outbox marks the relay's
        # sweeper finds its work by, next to the service's own indexes.
        marks = [outbox_indexes(name) for name in outbox_collections]
        await ensure_indexes(store, [*indexes, DLQ_REPLAY_INDEXES, *marks])
        await ensure_topics(settings, all_topics(settings))
        if wire is not None:
            wire(runtime)
        await ensure_consumed(
            settings, [t for c in runtime.consumers for _, t, _ in c.subscriptions if t]
        )
        runtime.dead_letters = DeadLetters(settings, runtime.consumers)
        if prepare is not None:  # before consuming starts: seed data the handlers rely on
            await prepare(runtime)
        if any(c.reads_partner_topics for c in runtime.consumers):
            # Read partners.events to its end before the first partner record is judged.
            runtime.directory_feed = PartnerDirectoryFeed(settings, runtime.directory)
            await runtime.directory_feed.start()
        await kafka.start()
        if outbox_collections:
            runtime.relay = OutboxRelay(
                [store[name] for name in outbox_collections],
                runtime.publisher,
                sweep_seconds=settings.outbox_sweep_seconds,
                service=settings.service_name,
                before_republish=runtime.rederive,
            )
            runtime.relay.start()
        _start_jobs(runtime, indexes, rotated)
        log.info("service started", topic_prefix=settings.topic_prefix, db=store.name)
        yield runtime
    finally:
        await _stop_jobs(runtime)
        if runtime.relay is not None:
            await runtime.relay.stop()
        await kafka.stop()
        if runtime.dead_letters is not None:
            await runtime.dead_letters.close()
        if runtime.directory_feed is not None:
            await runtime.directory_feed.stop()
        if client is not None:
            await client.close()
        log.info("service stopped")


def _start_jobs(
    runtime: Runtime, indexes: Sequence[Indexes], rotated: Sequence[RotatedCollection]
) -> None:
    settings, store = runtime.settings, runtime.db
    # Collections whose indexes name a purge field (processed events, Idempotency-Keys).
    runtime.purge = RetentionPurge(
        store,
        indexes,
        retention=timedelta(days=settings.dedupe_retention_days),
        every_seconds=settings.purge_interval_seconds,
        batch_size=settings.purge_batch_size,
        service=settings.service_name,
    )
    runtime.purge.add(runtime.retention)
    runtime.purge.start()
    if rotated:
        runtime.key_rotation, runtime.key_rotation_loop = rotation_job(
            store,
            rotated,
            PiiProtector.from_settings(settings),
            service=settings.service_name,
            every_seconds=settings.key_rotation_interval_seconds,
            batch_size=settings.key_rotation_batch_size,
            after_rewrite=runtime.rederive,
        )
        runtime.key_rotation_loop.start()


async def _stop_jobs(runtime: Runtime) -> None:
    if runtime.key_rotation_loop is not None:
        await runtime.key_rotation_loop.stop()
    if runtime.purge is not None:
        await runtime.purge.stop()


def readiness_checks(runtime: Runtime) -> list[tuple[str, Callable[[], Any]]]:
    async def store() -> None:
        await ping(runtime.db.client)

    async def kafka() -> None:
        if not await runtime.broker.ping(timeout=3.0):
            raise ConnectionError("kafka did not answer")

    return [("store", store), ("kafka", kafka)]
