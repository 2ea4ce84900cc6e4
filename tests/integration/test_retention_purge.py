"""Dedupe records past their retention are purged on the real store, in bounded batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from common.idempotency import ProcessedEvents
from common.mongo import ensure_indexes
from common.requests import idempotency_indexes
from common.retention import Expire, RetentionPurge
from common.testing import Infra, wait_until
from stations.app import create_app
from stations.settings import StationsSettings
from tests.support import serve

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def marker(n: int, done_at: datetime) -> dict[str, Any]:
    return {
        "_id": f"drv_{n}\x1fpartner/x\x1fe{n}",
        "subject": f"drv_{n}",
        "source": "partner/x",
        "event_id": f"e{n}",
        "fingerprint": "f",
        "done_at": done_at,
    }


async def test_records_older_than_the_retention_are_purged_batch_by_batch(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_purge"]
    specs = [ProcessedEvents.indexes("processed_events"), idempotency_indexes()]
    await ensure_indexes(db, specs)
    old, young = NOW - timedelta(days=31), NOW - timedelta(days=29)
    await db["processed_events"].insert_many(
        [marker(n, old + timedelta(seconds=n)) for n in range(25)]
        + [marker(n, young) for n in range(25, 30)]
    )
    await db["idempotency_keys"].insert_many(
        [{"_id": f"k{n}", "state": "done", "created_at": old} for n in range(3)]
        + [{"_id": "fresh", "state": "done", "created_at": young}]
    )
    purge = RetentionPurge(
        db,
        specs,
        retention=timedelta(days=30),
        every_seconds=3600,
        batch_size=10,
        service="test",
        clock=lambda: NOW,
        pause_seconds=0,
    )
    try:
        assert await purge.purge_once() == {"processed_events": 25, "idempotency_keys": 3}
        left = sorted([d["_id"] async for d in db["processed_events"].find({}, {"_id": 1})])
        assert left == sorted(marker(n, young)["_id"] for n in range(25, 30))
        assert [d["_id"] async for d in db["idempotency_keys"].find({})] == ["fresh"]
        assert await purge.purge_once() == {"processed_events": 0, "idempotency_keys": 0}
        indexed = {
            spec.collection: [i["key"] async for i in await db[spec.collection].list_indexes()]
            for spec in specs
        }
        assert {"done_at": 1} in indexed["processed_events"]
        assert {"created_at": 1} in indexed["idempotency_keys"]
    finally:
        await mongo.drop_database(db.name)


async def test_personal_data_classes_past_their_period_are_deleted_or_stripped(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_classes"]
    old, young = NOW - timedelta(days=181), NOW - timedelta(days=179)
    await db["notifications"].insert_many(
        [{"_id": f"n{n}", "driver_id": "d", "created_at": old} for n in range(7)]
        + [{"_id": "fresh", "driver_id": "d", "created_at": young}]
    )
    await db["cases"].insert_many(
        [
            {"_id": "c-old", "description": "运费拖欠", "closed_at": old},
            {"_id": "c-open", "description": "还在处理", "closed_at": None},
            {"_id": "c-young", "description": "刚结案", "closed_at": young},
        ]
    )
    purge = RetentionPurge(
        db,
        [],
        retention=timedelta(days=30),
        every_seconds=3600,
        batch_size=3,
        service="test",
        clock=lambda: NOW,
        pause_seconds=0,
    )
    purge.add(
        [
            Expire("inbox", "notifications", "created_at", timedelta(days=180)),
            Expire(
                "closed case texts",
                "cases",
                "closed_at",
                timedelta(days=180),
                where={"description": {"$ne": ""}},
                strip={"$set": {"description": ""}},
            ),
        ]
    )
    try:
        assert await purge.purge_once() == {"inbox": 7, "closed case texts": 1}
        assert [d["_id"] async for d in db["notifications"].find({})] == ["fresh"]
        texts = {d["_id"]: d["description"] async for d in db["cases"].find({})}
        assert texts == {"c-old": "", "c-open": "还在处理", "c-young": "刚结案"}
        assert await purge.purge_once() == {"inbox": 0, "closed case texts": 0}
    finally:
        await mongo.drop_database(db.name)


async def test_every_service_purges_its_dedupe_records_and_creates_topics_with_the_retention(
    infra: Infra, make_settings: Callable[..., StationsSettings], mongo: Any
) -> None:
    settings = make_settings(
        StationsSettings,
        topic_retention_hours=1,
        dedupe_retention_days=1 / 12,  # two hours
        purge_interval_seconds=0.2,
    )
    db = mongo[settings.mongo_db]
    now = datetime.now(UTC)
    await db["processed_events"].insert_many(
        [marker(1, now - timedelta(hours=3)), marker(2, now - timedelta(hours=1))]
    )
    await db["idempotency_keys"].insert_one(
        {"_id": "k", "state": "done", "created_at": now - timedelta(hours=3)}
    )
    async with serve(create_app(settings)):

        async def purged() -> bool:
            left = [d["_id"] async for d in db["processed_events"].find({}, {"_id": 1})]
            keys = await db["idempotency_keys"].count_documents({})
            return left == [marker(2, now)["_id"]] and keys == 0

        await wait_until(purged, timeout=15)

    admin = AIOKafkaAdminClient(**infra.client())
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topic("stations.events"))]
        )
    finally:
        await admin.close()
    entries = {name: value for name, value, *_ in described.resources[0][4]}
    assert entries["retention.ms"] == str(3_600_000)
