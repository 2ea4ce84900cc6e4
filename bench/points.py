"""Points: sustained awards per second from partner events, against the raw store baseline.

The baseline (the issue's) is a bare script doing the five store round trips one award costs
in the ledger taken alone (read the account, which the consent check does and the ledger starts
from; insert the entry; the conditional balance update; mark the entry applied; settle the
account), sequentially, in the same run, before and after the service drains its backlog (the
ratio is to the mean of the two). Reported beside it as context: the same bare work with 64
drivers at once, as points' key lanes run them (what the store gives when round trips
overlap); and the bare work of points' own design since 2026-12-07, which leaves the last two
steps to the end of each batch of 100 and sends them as one bulk write each.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient, UpdateOne

from bench.cpu import CpuMeter, add_cpu_row, add_store_cpu_row, store_meter
from bench.report import Report, bracketed, pct, rate
from common.events import new_event
from common.events.partner import TrainingCompleted
from common.events.registry import DriverRegistered
from common.testing import ServiceProcess, wait_until

DRIVERS = 200  # the fewest drivers the awards spread over (more when the caps need it)
# The default training rule pays 10 + 5 per hour, at most 100 a driver a day (its cap since
# 2026-12-07): the bench's 4-hour courses are 30 points, so three a driver a day earn in full.
AWARDS_PER_DRIVER = 3
LATENCY_SAMPLES = 600


def drivers_for(awards: int) -> int:
    """Drivers enough that no award of the run meets the training rule's daily cap: a capped
    event is decided (rejected) without its balance update, which would time less work."""
    return max(DRIVERS, -(-awards // AWARDS_PER_DRIVER))


LANES = 64  # points' consumer_key_lanes default
BATCH = 100  # points' consumer_batch_size default


async def raw_award_work(
    mongo_url: str, count: int, *, lanes: int = 1, batch: int | None = None, drivers: int = DRIVERS
) -> float:
    """Awards per second of a bare script doing one award's round trips; with ``lanes`` > 1,
    that many drivers' awards at once (each driver's in turn), as the service's key lanes do.
    With ``batch``, the last two steps are left to the end of every ``batch`` awards and sent
    as one bulk write each, as points does since 2026-12-07 (``points.finishes``)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, w="majority")
    db = client[f"bench_points_raw_{uuid.uuid4().hex[:6]}"]
    try:
        await db["accounts"].insert_many(
            [
                {"_id": f"d{i}", "balance": 0, "seq": 0, "status": "active", "pending": []}
                for i in range(drivers)
            ]
        )

        async def award(i: int) -> None:
            driver = f"d{i % drivers}"
            eid = f"{driver}:award:{i}"
            account = await db["accounts"].find_one({"_id": driver})
            assert account is not None
            await db["ledger"].insert_one(
                {"_id": eid, "driver_id": driver, "amount": 30, "state": "pending"}
            )
            await db["accounts"].update_one(
                {
                    "_id": driver,
                    "seq": account["seq"],
                    "status": "active",
                    "pending.id": {"$ne": eid},
                },
                {"$inc": {"balance": 30, "seq": 1}, "$push": {"pending": {"id": eid}}},
            )
            if batch is not None:
                deferred.append((driver, eid))
                return
            await db["ledger"].update_one(
                {"_id": eid, "state": "pending"}, {"$set": {"state": "applied"}}
            )
            await db["accounts"].update_one({"_id": driver}, {"$pull": {"pending": {"id": eid}}})

        deferred: list[tuple[str, str]] = []

        async def batch_end() -> None:
            done = deferred[:]
            deferred.clear()
            if not done:
                return
            await db["ledger"].bulk_write(
                [
                    UpdateOne({"_id": eid, "state": "pending"}, {"$set": {"state": "applied"}})
                    for _, eid in done
                ],
                ordered=False,
            )
            by_driver: dict[str, list[str]] = {}
            for driver, eid in done:
                by_driver.setdefault(driver, []).append(eid)
            await db["accounts"].bulk_write(
                [
                    UpdateOne({"_id": d}, {"$pull": {"pending": {"id": {"$in": ids}}}})
                    for d, ids in by_driver.items()
                ],
                ordered=False,
            )

        async def lane(first: int, stop: int) -> None:
            # Drivers first, first + lanes, ...: no two lanes touch one account.
            for i in range(first, stop, lanes):
                await award(i)

        started = time.perf_counter()
        step = batch or count
        for start in range(0, count, step):
            stop = min(count, start + step)
            await asyncio.gather(*(lane(start + k, stop) for k in range(lanes)))
            await batch_end()
        return rate(count, time.perf_counter() - started)
    finally:
        await client.drop_database(db.name)
        await client.close()


async def _produce(producer: AIOKafkaProducer, topic: str, event: Any) -> Any:
    return await producer.send(topic, event.to_bytes(), key=event.subject.encode())


def _training(driver: str, at: datetime) -> Any:
    return new_event(
        TrainingCompleted(driver_id=driver, course_id="C-1", hours=4, completed_at=at),
        source="partner/training-centre",
        subject=driver,
        time=at,
    )


async def open_accounts(
    producer: AIOKafkaProducer, topic: str, drivers: list[str], accounts: Any, source: str
) -> None:
    """Announce each driver's registration and wait until points opened every account."""
    opened = [
        await _produce(
            producer,
            topic,
            new_event(
                DriverRegistered(driver_id=d, channel="partner", registered_at=datetime.now(UTC)),
                source=source,
                subject=d,
            ),
        )
        for d in drivers
    ]
    await asyncio.gather(*opened)
    await wait_until(lambda: _at_least(accounts, {}, len(drivers)), timeout=600, interval=0.25)


async def drain_backlog(
    producer: AIOKafkaProducer, topic: str, drivers: list[str], events: int, ledger: Any
) -> float:
    """Awards per second for a backlog of ``events`` partner events, timed from the first send
    (points starts on the backlog while it is still being written) until all are applied."""
    started = time.perf_counter()
    sent = [
        await _produce(producer, topic, _training(drivers[i % len(drivers)], datetime.now(UTC)))
        for i in range(events)
    ]
    await asyncio.gather(*sent)
    await _all_applied(ledger, events, timeout=900)
    return rate(events, time.perf_counter() - started)


async def run(kafka: str, mongo: str, report: Report, *, events: int = 2000) -> None:
    # The same number of accounts on both sides: the backlog, then the latency samples.
    count = drivers_for(events + LATENCY_SAMPLES)
    with CpuMeter() as bare_cpu, store_meter(mongo) as bare_store:
        before = await raw_award_work(mongo, events, drivers=count)
    # Context, not the goal's baseline: the same bare work with as many drivers at once as
    # the service's key lanes allow, i.e. what the store gives when round trips overlap.
    overlapped = await raw_award_work(mongo, events, lanes=LANES, drivers=count)
    # Context too: the bare work of points' own design, its batch's last two steps in bulk.
    finished_in_bulk = await raw_award_work(mongo, events, batch=BATCH, drivers=count)

    prefix = f"benchp{uuid.uuid4().hex[:6]}."
    db_name = f"{prefix[:-1]}_points"
    points = ServiceProcess(
        "points",
        {
            "DRIVERHOME_ENVIRONMENT": "test",
            "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
            "DRIVERHOME_KAFKA_BOOTSTRAP": kafka,
            "DRIVERHOME_MONGO_URL": mongo,
            "DRIVERHOME_TOPIC_PREFIX": prefix,
            "DRIVERHOME_MONGO_DB": db_name,
            "DRIVERHOME_LOG_LEVEL": "WARNING",
        },
        Path(tempfile.mkdtemp(prefix="driverhome-bench-points-")) / "points.log",
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, tz_aware=True)
    ledger = client[db_name]["ledger"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=5)
    try:
        points.start()
        await points.wait_ready()
        await producer.start()
        drivers = [f"drv_bench_{i}" for i in range(count)]
        accounts = client[db_name]["accounts"]
        await open_accounts(
            producer, f"{prefix}registry.events", drivers, accounts, "driverhome/registry"
        )
        # Sustained throughput: a backlog drained by one points process.
        assert points.process is not None
        with CpuMeter(points.process.pid) as points_cpu, store_meter(mongo) as store_cpu:
            system = await drain_backlog(
                producer, f"{prefix}partner.training-centre.events", drivers, events, ledger
            )
        # Again once the backlog is drained: the baseline is the mean of both, so a machine
        # that sped up or slowed down meanwhile moves the ratio less.
        raw, drift = bracketed(before, await raw_award_work(mongo, events, drivers=count))
        report.add("raw store: one award's ledger round trips (5)", f"{raw:,.0f} awards/s", drift)
        report.add(
            f"raw store: the same round trips, {LANES} drivers at once",
            f"{overlapped:,.0f} awards/s",
            f"{overlapped / raw:.2f}x the one-at-a-time baseline",
        )
        report.add(
            f"raw store: 3 round trips an award, 2 bulk writes per {BATCH} (points' design)",
            f"{finished_in_bulk:,.0f} awards/s",
            f"{finished_in_bulk / raw:.2f}x the one-at-a-time baseline",
        )
        report.add(
            "points: partner events -> ledger entries (1 process)",
            f"{system:,.0f} awards/s",
            f"ratio {system / raw:.2f} of the raw store baseline (goal >= 0.8), "
            f"{system / overlapped:.2f} of the overlapped, "
            f"{system / finished_in_bulk:.2f} of points' design done bare",
        )
        add_cpu_row(
            report,
            "points: CPU per award, points process",
            service=(points_cpu, events),
            bare=(bare_cpu, events),
        )
        add_store_cpu_row(
            report,
            "store: CPU per award",
            service=(store_cpu, events),
            bare=(bare_store, events),
        )

        # Latency at half that load: event time -> entry applied, same clock.
        paced = max(1.0, system / 2)
        samples = min(LATENCY_SAMPLES, int(paced * 20))
        for i in range(samples):
            tick = time.perf_counter()
            await _produce(
                producer,
                f"{prefix}partner.training-centre.events",
                _training(drivers[(events + i) % count], datetime.now(UTC)),
            )
            await asyncio.sleep(max(0.0, 1 / paced - (time.perf_counter() - tick)))
        await producer.flush()
        await _all_applied(ledger, events + samples, timeout=600)
        latencies = [
            (doc["applied_at"] - doc["occurred_at"]).total_seconds() * 1000
            async for doc in ledger.find({"state": "applied"}).sort("applied_at", -1).limit(samples)
        ]
        report.add(
            f"points: award latency at {paced:.0f} events/s (half load): p50",
            f"{statistics.median(latencies):,.1f} ms",
        )
        report.add("points: award latency at half load: p99", f"{pct(latencies, 99):,.1f} ms")
    finally:
        await producer.stop()
        points.stop()
        await client.drop_database(db_name)
        await client.close()


async def _at_least(collection: Any, query: dict[str, Any], count: int) -> bool:
    return bool(await collection.count_documents(query) >= count)


async def _all_applied(ledger: Any, count: int, *, timeout: float) -> None:
    """Until ``count`` entries are applied; a rejected one (a cap met, a rule changed) never
    will be, so it stops the wait at once rather than at its timeout."""
    deadline = time.monotonic() + timeout
    while not await _at_least(ledger, {"state": "applied"}, count):
        rejected = await ledger.find_one({"state": "rejected"}, {"detail": 1})
        if rejected is not None:
            raise RuntimeError(
                f"an award was rejected; the bench's events must all earn: {rejected}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} awards not applied within {timeout:.0f}s")
        await asyncio.sleep(0.25)
