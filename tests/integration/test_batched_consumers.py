"""Handbook section 3 for batched subscriptions, on the real broker: points' account opening
from ``driver.registered.v1`` and cases' ``registry.events`` consumer take records in batches
(one offset commit per batch), yet a poison record is dead-lettered alone, the others are
applied once, and a crash between a batch's handled records and its commit applies nothing
twice after redelivery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cases.app import create_app as create_cases
from cases.settings import CasesSettings
from common.events import new_event
from common.events.base import CloudEvent
from common.events.registry import DriverRegistered
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    ServiceProcess,
    headers_of,
    kafka_options,
    read_topic,
    unique_name,
    wait_until,
)
from common.topics import ensure_topics
from points.app import create_app as create_points
from points.settings import PointsSettings
from tests.support import serve

KEY = b"one-partition"  # every record on one partition, so they arrive as one batch


def registered() -> CloudEvent:
    driver_id = unique_name("drv_")
    return new_event(
        DriverRegistered(driver_id=driver_id, channel="operator", registered_at=datetime.now(UTC)),
        source="driverhome/registry",
        subject=driver_id,
    )


async def produce_all(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Queue the records before the consumer starts: its first fetch takes them together."""
    producer = AIOKafkaProducer(**kafka_options(bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value, key=KEY)
        await producer.flush()
    finally:
        await producer.stop()


# What one registration leaves behind, per service: the collection and the count per driver.
EFFECTS = {"points": "accounts", "cases": "dossiers"}


@pytest.mark.expects_dlq("malformed_envelope")
@pytest.mark.parametrize("service", ["points", "cases"])
async def test_a_poison_record_in_a_batch_is_dead_lettered_alone_and_the_rest_applied_once(
    infra: Infra, make_settings: Callable[..., ServiceSettings], mongo: Any, service: str
) -> None:
    settings: ServiceSettings
    if service == "points":
        settings = make_settings(PointsSettings)
        app = create_points(settings)  # type: ignore[arg-type]
    else:
        settings = make_settings(CasesSettings)
        app = create_cases(settings, scan=False)  # type: ignore[arg-type]
    topic = settings.topic("registry.events")
    await ensure_topics(settings, ["registry.events"])
    events = [registered() for _ in range(6)]
    values = [e.to_bytes() for e in events]
    values.insert(3, b"{not json")  # in the middle of the batch
    # Each valid record twice: the second copy must change nothing.
    await produce_all(infra.kafka_bootstrap, topic, values + values[:3])
    collection = mongo[settings.mongo_db][EFFECTS[service]]
    ids = sorted(e.subject for e in events)

    async def all_applied() -> bool:
        return await collection.count_documents({"_id": {"$in": ids}}) == len(ids)

    async with serve(app):
        await wait_until(all_applied, timeout=30)
    docs = await collection.find({}, {"_id": 1}).to_list()
    assert sorted(d["_id"] for d in docs) == ids, "each valid record applied, once"
    letters = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", min_records=2, timeout=3)
    assert [r.value for r in letters] == [b"{not json"], "the poison record alone, once"
    assert headers_of(letters[0])["dlq-reason"] == "malformed_envelope"


@pytest.mark.slow  # two process starts and a group rebalance after the crash: about 30 s
async def test_a_crash_between_a_batchs_records_and_its_commit_applies_nothing_twice(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any, tmp_path: Path
) -> None:
    settings = make_settings(PointsSettings)
    topic = settings.topic("registry.events")
    await ensure_topics(settings, ["registry.events"])
    events = [registered() for _ in range(8)]
    await produce_all(infra.kafka_bootstrap, topic, [e.to_bytes() for e in events])
    marker = tmp_path / "crashed"
    env = {
        "DRIVERHOME_ENVIRONMENT": "test",
        "DRIVERHOME_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DRIVERHOME_MONGO_URL": infra.mongo_url,
        "DRIVERHOME_MONGO_DB": settings.mongo_db,
        "DRIVERHOME_TOPIC_PREFIX": settings.topic_prefix,
        "DRIVERHOME_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "DRIVERHOME_CONSUMER_BACKOFF_MAX_SECONDS": "1",
        # Dies after the batch's fourth record is durable, before the batch is committed.
        "DRIVERHOME_FAULTS": f'{{"bus.batch.handled.3": "exit_once:{marker}"}}',
    }
    db = mongo[settings.mongo_db]
    doomed = ServiceProcess("points", env, tmp_path / "doomed.log")
    restarted = ServiceProcess("points", env, tmp_path / "restarted.log")
    try:
        doomed.start()
        assert await doomed.wait_exit(timeout=60) == 97, doomed.log_tail()
        # Four applied, none committed: the restart gets the whole batch again.
        assert await db["processed_events"].count_documents({}) == 4
        restarted.start()
        ids = sorted(e.subject for e in events)

        async def all_applied() -> bool:
            return await db["processed_events"].count_documents({}) == len(ids)

        await wait_until(all_applied, timeout=60)
    finally:
        doomed.stop()
        restarted.stop()
    docs = await db["accounts"].find({}, {"_id": 1}).to_list()
    assert sorted(d["_id"] for d in docs) == ids
    marks = await db["processed_events"].find({}, {"event_id": 1}).to_list()
    assert sorted(m["event_id"] for m in marks) == sorted(e.id for e in events)
