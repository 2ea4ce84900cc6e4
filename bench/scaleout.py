"""Scale-out: 1, 2, 4 and 8 points processes in one consumer group, awards/s as a ratio to one.

    python -m bench.scaleout --kafka 127.0.0.1:29092 --mongo mongodb://127.0.0.1:27019

Run it on a private, unsecured broker and store (the command in docs/scaling.md), never the
shared ones: each step starts N points processes with the same topic prefix and database (so
one group per subscription, 12 partitions shared among them), opens the drivers' accounts,
then produces a backlog of partner events and times how long the group takes to apply them,
from the first send.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench.points import drain_backlog, open_accounts
from common.testing import ServiceProcess

DRIVERS = 1200  # keys spread over all 12 partitions


async def step(kafka: str, mongo: str, processes: int, events: int) -> float:
    prefix = f"scale{uuid.uuid4().hex[:6]}."
    db_name = f"{prefix[:-1]}_points"
    logs = Path(tempfile.mkdtemp(prefix=f"driverhome-scaleout-{processes}-"))
    env = {
        "DRIVERHOME_ENVIRONMENT": "test",
        "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
        "DRIVERHOME_KAFKA_BOOTSTRAP": kafka,
        "DRIVERHOME_MONGO_URL": mongo,
        "DRIVERHOME_TOPIC_PREFIX": prefix,
        "DRIVERHOME_MONGO_DB": db_name,
        "DRIVERHOME_LOG_LEVEL": "WARNING",
    }
    group = [ServiceProcess("points", env, logs / f"points-{i}.log") for i in range(processes)]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, tz_aware=True)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=5)
    try:
        group[0].start()  # the first one creates the topics
        await group[0].wait_ready(timeout=120)
        for member in group[1:]:
            member.start()
        for member in group[1:]:
            await member.wait_ready(timeout=180)
        await producer.start()
        drivers = [f"drv_scale_{i}" for i in range(DRIVERS)]
        await open_accounts(
            producer,
            f"{prefix}registry.events",
            drivers,
            client[db_name]["accounts"],
            "driverhome/registry/bench",
        )
        # Let the group settle (every member assigned) before the timed backlog.
        await asyncio.sleep(3)
        return await drain_backlog(
            producer,
            f"{prefix}partner.training-centre.events",
            drivers,
            events,
            client[db_name]["ledger"],
        )
    finally:
        await producer.stop()
        for member in group:
            member.stop()
        await client.drop_database(db_name)
        await client.close()


async def raw_shared(mongo: str, sequences: int, count: int) -> float:
    """The six round trips of one award (as bench.points' raw baseline), ``sequences`` of them
    concurrently against one database: what the store gives a group of writers."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, w="majority")
    db = client[f"bench_scale_raw_{uuid.uuid4().hex[:6]}"]
    drivers = 200

    async def sequence(k: int) -> None:
        for i in range(count):
            driver = f"d{k}_{i % drivers}"
            eid = f"{driver}:award:{i}"
            await db["ledger"].insert_one(
                {"_id": eid, "driver_id": driver, "amount": 30, "state": "pending"}
            )
            account = await db["accounts"].find_one({"_id": driver})
            await db["ledger"].find_one({"_id": eid})
            assert account is not None
            await db["accounts"].update_one(
                {"_id": driver, "seq": account["seq"], "pending.id": {"$ne": eid}},
                {"$inc": {"balance": 30, "seq": 1}, "$push": {"pending": {"id": eid}}},
            )
            await db["ledger"].update_one(
                {"_id": eid, "state": "pending"}, {"$set": {"state": "applied"}}
            )
            await db["accounts"].update_one({"_id": driver}, {"$pull": {"pending": {"id": eid}}})

    try:
        await db["accounts"].insert_many(
            [
                {"_id": f"d{k}_{i}", "balance": 0, "seq": 0, "pending": []}
                for k in range(sequences)
                for i in range(drivers)
            ]
        )
        started = time.perf_counter()
        await asyncio.gather(*(sequence(k) for k in range(sequences)))
        return sequences * count / (time.perf_counter() - started)
    finally:
        await client.drop_database(db.name)
        await client.close()


async def main(args: argparse.Namespace) -> None:
    for n in args.processes:
        raw = await raw_shared(args.mongo, n, 500)
        print(f"raw store, {n} concurrent award sequences in one database: {raw:,.0f}/s")
    rates: dict[int, float] = {}
    for n in args.processes:
        rates[n] = await step(args.kafka, args.mongo, n, args.events)
        ratio = rates[n] / rates[args.processes[0]]
        print(f"{n} process(es): {rates[n]:,.0f} awards/s, ratio {ratio:.2f}", flush=True)
    print("\n| points processes | awards/s | ratio to 1 |\n|---|---|---|")
    for n, value in rates.items():
        print(f"| {n} | {value:,.0f} | {value / rates[args.processes[0]]:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kafka", default="127.0.0.1:29092")
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27019")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4, 8])
    asyncio.run(main(parser.parse_args()))
