"""Smoke tests of the local infra (deploy/local/infra.sh): Kafka 4.1 KRaft + mongo-java-server/H2.

Assume the infra is up (``bash deploy/local/infra.sh up``) at 127.0.0.1:9092 / 127.0.0.1:27017;
``KAFKA_BOOTSTRAP`` / ``MONGO_URL`` (or ``DRIVERHOME_TEST_KAFKA`` / ``DRIVERHOME_TEST_MONGO_URL``)
override. The Mongo tests pin the store subset the services
rely on (unique index, conditional ``$inc`` via find_one_and_update, bulk_write, aggregation),
so a gap in mongo-java-server shows up here first. Every run uses its own db / topic names.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from bson import ObjectId
from pymongo import (
    ASCENDING,
    AsyncMongoClient,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
    WriteConcern,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.testing import kafka_options

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_SH = REPO_ROOT / "deploy" / "local" / "infra.sh"
_KAFKA_ENV = ("KAFKA_BOOTSTRAP", "DRIVERHOME_TEST_KAFKA")
_MONGO_ENV = ("MONGO_URL", "DRIVERHOME_TEST_MONGO_URL")
EXTERNAL_INFRA = any(os.environ.get(v) for v in _KAFKA_ENV + _MONGO_ENV)
KAFKA_BOOTSTRAP = next(
    (os.environ[v] for v in _KAFKA_ENV if os.environ.get(v)),
    f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}",
)
MONGO_URL = next(
    (os.environ[v] for v in _MONGO_ENV if os.environ.get(v)),
    f"mongodb://127.0.0.1:{os.environ.get('MONGO_PORT', '27017')}/",
)
RUN_ID = uuid.uuid4().hex[:10]

Doc = dict[str, Any]
Client = AsyncMongoClient[Doc]
Db = AsyncDatabase[Doc]
Coll = AsyncCollection[Doc]


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
async def mongo_client() -> AsyncIterator[Client]:
    client: Client = AsyncMongoClient(
        MONGO_URL, serverSelectionTimeoutMS=5000, appname="driverhome-test-infra"
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def mongo_db(mongo_client: Client) -> AsyncIterator[Db]:
    name = f"t_infra_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    db = mongo_client[name]
    try:
        yield db
    finally:
        await mongo_client.drop_database(name)


@pytest.fixture
async def coll(mongo_db: Db) -> Coll:
    return mongo_db["things"]


@pytest.fixture
async def kafka_topic() -> AsyncIterator[str]:
    topic = f"t_infra_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**kafka_options(KAFKA_BOOTSTRAP), request_timeout_ms=15_000)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=3, replication_factor=1)], timeout_ms=15_000
        )
        yield topic
        await admin.delete_topics([topic])
    finally:
        await admin.close()


# ---------------------------------------------------------------------------- infra.sh
@pytest.mark.skipif(
    EXTERNAL_INFRA, reason="endpoints given from outside (env), not managed by infra.sh"
)
def test_infra_status_exits_zero() -> None:
    proc = subprocess.run(
        ["bash", str(INFRA_SH), "status"], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kafka: up" in proc.stdout
    assert "mongo: up" in proc.stdout
    # The broker's configuration holds its super user's password: its owner's only.
    kafka_dir = Path(os.environ.get("DRIVERHOME_INFRA_DIR", REPO_ROOT / ".infra")) / "kafka"
    assert oct(kafka_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((kafka_dir / "server.properties").stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------------------- mongo
async def test_mongo_handshake_reports_server_version(mongo_client: Client) -> None:
    info = await mongo_client.server_info()
    major = int(info["versionArray"][0]) if "versionArray" in info else int(info["version"][0])
    assert major >= 4, info
    hello = await mongo_client.admin.command("isMaster")
    # PyMongo 4.20 refuses servers below wire version 9 (MongoDB 4.4).
    assert hello["maxWireVersion"] >= 9, hello
    assert (await mongo_client.admin.command("ping"))["ok"] == 1


async def test_mongo_unique_index_rejects_duplicate(coll: Coll) -> None:
    await coll.create_index([("driver_id", ASCENDING), ("day", ASCENDING)], unique=True)
    await coll.insert_one({"driver_id": "d1", "day": "2025-01-01", "n": 1})
    await coll.insert_one({"driver_id": "d1", "day": "2025-01-02", "n": 1})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"driver_id": "d1", "day": "2025-01-01", "n": 2})
    assert await coll.count_documents({}) == 2
    # _id uniqueness as well (idempotent inserts keyed by event id rely on it).
    await coll.insert_one({"_id": "evt-1", "driver_id": "d2", "day": "x"})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": "evt-1", "driver_id": "d3", "day": "y"})


async def test_mongo_a_filter_naming_id_is_served_from_the_id_index(coll: Coll) -> None:
    """MongoLauncher's plan: ``_id`` by equality or ``$in`` plus other fields reads the documents
    found by ``_id`` and matches the rest on them, with the answers a scan gives."""
    await coll.insert_many(
        [{"_id": i, "state": "open" if i % 2 else "shut", "v": i} for i in range(50)]
        + [{"_id": {"driver": "d1", "day": 3}, "state": "open", "v": 100}]
    )
    before = await coll.database.command("driverhomePlans", coll.name)
    assert await coll.find_one({"_id": 3, "state": "open"}) == {"_id": 3, "state": "open", "v": 3}
    assert await coll.find_one({"_id": 3, "state": "shut"}) is None
    listed = coll.find({"_id": {"$in": [1, 2, 3, 5, 99]}, "state": "open"}).sort("v", -1).limit(2)
    assert [d["_id"] async for d in listed] == [5, 3]
    assert await coll.find_one({"_id": {"driver": "d1", "day": 3}, "v": {"$gte": 100}})
    pinned = await coll.update_one({"_id": 4, "state": "shut", "v": 4}, {"$set": {"state": "x"}})
    missed = await coll.update_one({"_id": 4, "state": "shut"}, {"$set": {"state": "y"}})
    gone = await coll.delete_one({"_id": 6, "v": 6})
    after = await coll.database.command("driverhomePlans", coll.name)
    assert (pinned.modified_count, missed.modified_count, gone.deleted_count) == (1, 0, 1)
    assert await coll.find_one({"_id": 4}) == {"_id": 4, "state": "x", "v": 4}
    assert after["id_first"] - before["id_first"] == 7
    assert after["scan"] == before["scan"], "a filter naming _id read every document"
    # What no index serves is still answered, by reading every document.
    assert await coll.count_documents({"state": "open"}) == 26
    counted = await coll.database.command("driverhomePlans", coll.name)
    assert counted["scan"] == after["scan"] + 1


async def test_mongo_unique_keys_of_every_type_are_found_and_kept_unique(coll: Coll) -> None:
    """MongoLauncher orders index keys by value (not by their serialized bytes): lookups,
    ``$in`` and duplicate checks still treat equal values as equal, whatever their type."""
    oid = ObjectId()
    ids: list[Any] = [7, 2.5, "drv_b", "drv_a", oid, {"driver": "d1", "day": 3}, None]
    await coll.insert_many([{"_id": v, "n": i} for i, v in enumerate(ids)])
    for i, v in enumerate(ids):
        assert await coll.find_one({"_id": v}, {"_id": 0, "n": 1}) == {"n": i}, v
    for dup in (7.0, "drv_a", oid, {"driver": "d1", "day": 3}, None):
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"_id": dup})
    # Strings by $in are not matched again, so what the index finds is the whole answer.
    found = coll.find({"_id": {"$in": ["drv_a", "drv_z", "drv_b", "drv_a"]}}, {"n": 1})
    assert sorted([d["n"] async for d in found]) == [2, 3]
    numbers = coll.find({"_id": {"$in": [7.0, 2.5, 8]}, "n": {"$lt": 5}})
    assert sorted([d["n"] async for d in numbers]) == [0, 1]
    pairs = coll.database[f"{coll.name}_pairs"]
    await pairs.create_index([("a", ASCENDING), ("b", ASCENDING)], unique=True)
    await pairs.insert_many([{"a": 1, "b": "x"}, {"a": 1.5, "b": "x"}, {"a": "1", "b": "x"}])
    with pytest.raises(DuplicateKeyError):
        await pairs.insert_one({"a": 1.0, "b": "x"})
    assert await pairs.find_one({"a": "1", "b": "x"}, {"_id": 0}) == {"a": "1", "b": "x"}
    assert await pairs.count_documents({}) == 3
    assert await coll.count_documents({}) == len(ids)


async def test_mongo_unique_index_survives_reopen(mongo_client: Client) -> None:
    """Index metadata is persisted in the H2 store and visible via list_indexes."""
    name = f"t_infra_{RUN_ID}_idx"
    coll = mongo_client[name]["c"]
    try:
        await coll.create_index("k", unique=True, name="k_unique")
        idx = {i["name"]: i async for i in await coll.list_indexes()}
        assert idx["k_unique"].get("unique") is True, idx
    finally:
        await mongo_client.drop_database(name)


async def test_mongo_find_one_and_update_conditional_inc(coll: Coll) -> None:
    await coll.insert_one({"_id": "acct-1", "balance": 10, "version": 0})

    # Debit succeeds while the guard holds.
    doc = await coll.find_one_and_update(
        {"_id": "acct-1", "balance": {"$gte": 7}},
        {"$inc": {"balance": -7, "version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None
    assert doc["balance"] == 3
    assert doc["version"] == 1

    # Guard fails -> no match, no change.
    doc = await coll.find_one_and_update(
        {"_id": "acct-1", "balance": {"$gte": 7}},
        {"$inc": {"balance": -7, "version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    assert doc is None
    assert await coll.find_one({"_id": "acct-1"}) == {"_id": "acct-1", "balance": 3, "version": 1}

    # Upsert with $inc + $setOnInsert creates the document.
    doc = await coll.find_one_and_update(
        {"_id": "acct-2"},
        {"$inc": {"balance": 5}, "$setOnInsert": {"version": 0}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc == {"_id": "acct-2", "balance": 5, "version": 0}

    # BEFORE returns the pre-image.
    before = await coll.find_one_and_update(
        {"_id": "acct-2", "version": 0},
        {"$inc": {"balance": 1}, "$set": {"version": 1}},
        return_document=ReturnDocument.BEFORE,
    )
    assert before is not None
    assert before["balance"] == 5


async def test_mongo_concurrent_conditional_inc_never_overdraws(coll: Coll) -> None:
    await coll.insert_one({"_id": "acct", "balance": 10})

    async def debit() -> bool:
        res = await coll.find_one_and_update(
            {"_id": "acct", "balance": {"$gte": 1}}, {"$inc": {"balance": -1}}
        )
        return res is not None

    results = await asyncio.gather(*(debit() for _ in range(25)))
    assert sum(results) == 10
    assert await coll.find_one({"_id": "acct"}) == {"_id": "acct", "balance": 0}


async def test_mongo_bulk_write(coll: Coll) -> None:
    await coll.insert_many([{"_id": i, "v": i} for i in range(5)])
    res = await coll.bulk_write(
        [
            InsertOne({"_id": 10, "v": 10}),
            UpdateOne({"_id": 1}, {"$inc": {"v": 100}}),
            UpdateOne({"_id": 20}, {"$set": {"v": 20}}, upsert=True),
            ReplaceOne({"_id": 2}, {"v": -2}),
            DeleteOne({"_id": 3}),
        ],
        ordered=True,
    )
    assert res.inserted_count == 1
    assert res.matched_count == 2
    assert res.modified_count == 2
    assert res.upserted_count == 1
    assert res.deleted_count == 1
    docs = {d["_id"]: d["v"] async for d in coll.find({})}
    assert docs == {0: 0, 1: 101, 2: -2, 4: 4, 10: 10, 20: 20}

    # Unordered bulk with a duplicate: the rest is applied, the error is reported.
    with pytest.raises(BulkWriteError) as ei:
        await coll.bulk_write(
            [InsertOne({"_id": 30}), InsertOne({"_id": 0}), InsertOne({"_id": 31})],
            ordered=False,
        )
    details = ei.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000)]
    # NB mongo-java-server 1.47 reports nInserted == batch size (3) on partial failure; real
    # MongoDB says 2. Check the data, never the counts of a failed bulk.
    assert await coll.count_documents({"_id": {"$in": [30, 31]}}) == 2


async def test_mongo_aggregate_match_group_sort(coll: Coll) -> None:
    await coll.insert_many(
        [
            {"driver": "a", "kind": "earn", "pts": 5},
            {"driver": "a", "kind": "earn", "pts": 7},
            {"driver": "b", "kind": "earn", "pts": 20},
            {"driver": "b", "kind": "spend", "pts": -4},
            {"driver": "c", "kind": "earn", "pts": 1},
        ]
    )
    cursor = await coll.aggregate(
        [
            {"$match": {"kind": "earn"}},
            {"$group": {"_id": "$driver", "total": {"$sum": "$pts"}, "n": {"$sum": 1}}},
            {"$sort": {"total": -1}},
        ]
    )
    rows = await cursor.to_list()
    assert rows == [
        {"_id": "b", "total": 20, "n": 1},
        {"_id": "a", "total": 12, "n": 2},
        {"_id": "c", "total": 1, "n": 1},
    ]


async def test_mongo_write_concern_majority_accepted(coll: Coll) -> None:
    wc = coll.with_options(write_concern=WriteConcern(w="majority", wtimeout=5000))
    res = await wc.insert_one({"_id": "wc", "v": 1})
    assert res.acknowledged
    upd = await wc.update_one({"_id": "wc"}, {"$inc": {"v": 1}})
    assert upd.modified_count == 1


# ---------------------------------------------------------------------------- kafka
async def test_kafka_idempotent_produce_consume_manual_commit(kafka_topic: str) -> None:
    n = 30
    producer = AIOKafkaProducer(
        **kafka_options(KAFKA_BOOTSTRAP), enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        futures = [
            await producer.send(kafka_topic, f"v{i}".encode(), key=f"k{i % 5}".encode())
            for i in range(n)
        ]
        await producer.flush()
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    assert {m.topic for m in metas} == {kafka_topic}

    group = f"t_infra_{RUN_ID}_g"
    consumer = AIOKafkaConsumer(
        kafka_topic,
        **kafka_options(KAFKA_BOOTSTRAP),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    seen: dict[str, bytes] = {}
    last: dict[TopicPartition, int] = {}
    try:
        async with asyncio.timeout(30):
            while len(seen) < n:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batches.items():
                    for m in msgs:
                        assert m.key is not None
                        assert m.value is not None
                        seen[m.value.decode()] = m.key
                        last[tp] = m.offset
        await consumer.commit({tp: OffsetAndMetadata(off + 1, "") for tp, off in last.items()})
        for tp, off in last.items():
            assert await consumer.committed(tp) == off + 1
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"v{i}" for i in range(n))
    # Same key -> same partition (ordering guarantee the services rely on).
    by_key: dict[str, set[int]] = {}
    for i, m in enumerate(metas):
        by_key.setdefault(f"k{i % 5}", set()).add(m.partition)
    assert all(len(parts) == 1 for parts in by_key.values()), by_key

    # A new consumer in the same group resumes after the committed offsets: nothing left.
    again = AIOKafkaConsumer(
        kafka_topic,
        **kafka_options(KAFKA_BOOTSTRAP),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await again.start()
    try:
        batches = await again.getmany(timeout_ms=3000)
        assert sum(len(v) for v in batches.values()) == 0
    finally:
        await again.stop()


async def test_kafka_auto_create_is_disabled() -> None:
    """Services must create topics explicitly; producing to an unknown topic must not create it."""
    topic = f"t_infra_{RUN_ID}_nope"
    producer = AIOKafkaProducer(**kafka_options(KAFKA_BOOTSTRAP), request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(Exception):  # noqa: B017,PT011 - aiokafka raises KafkaTimeoutError
            await asyncio.wait_for(producer.send_and_wait(topic, b"x"), timeout=10)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(**kafka_options(KAFKA_BOOTSTRAP))
    await admin.start()
    try:
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()
