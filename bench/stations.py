"""Stations benchmarks: nearest-station queries over 10,000 stations and check-in throughput.

Each system figure is reported as a ratio of a raw store baseline measured in the same run on
the same data: the bare indexed cell query for the nearest search, and a bare script doing a
check-in's store round trips for check-ins (handbook section 8).
"""

from __future__ import annotations

import asyncio
import functools
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from common.auth import issue_token
from common.events import new_event
from common.events.registry import DriverRegistered
from common.settings import ServiceSettings
from common.testing import ServiceProcess, wait_until
from stations.domain import Capacity, Hours, Location, OfferedService, Station, cell_query
from stations.store.stations import INDEXES, to_doc

STATIONS = 10_000
BEILUN = (29.906, 121.846)
QUERIES = 300
RADIUS_KM = 15.0
CHECKINS = 1_500
CONCURRENCY = 8


class Report(Protocol):
    def add(self, name: str, value: str, note: str = "") -> None: ...


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _network(rng: random.Random) -> list[dict[str, Any]]:
    """2,000 stations within ~40 km of Beilun and 8,000 over eastern and central China."""
    now = datetime.now(UTC)
    docs = []
    for i in range(STATIONS):
        if i < 2_000:
            lat, lng = BEILUN[0] + rng.gauss(0, 0.15), BEILUN[1] + rng.gauss(0, 0.17)
        else:
            lat, lng = rng.uniform(20, 45), rng.uniform(100, 125)
        station = Station(
            station_id=f"bst_{i:05d}",
            name=f"司机之家 {i}",
            kind=rng.choice(["drivers_home", "rest_stop", "community_station"]),
            operator_org="bench",
            address="bench",
            location=Location(lat=lat, lng=lng),
            hours=Hours(always_open=True),
            capacity=Capacity(beds=10, parking=20, showers=2),
            free={"beds": 10, "parking": 20},
            services=[OfferedService(code=c) for c in ("rest", "shower", "meals", "bed")],
            created_at=now,
            updated_at=now,
        )
        docs.append(to_doc(station))
    return docs


def _query_points(rng: random.Random) -> list[tuple[float, float]]:
    return [
        (BEILUN[0] + rng.uniform(-0.2, 0.2), BEILUN[1] + rng.uniform(-0.2, 0.2))
        for _ in range(QUERIES)
    ]


async def _timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    latencies = []
    for call in calls:
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _raw_checkin_work(db: Any, count: int) -> float:
    """A check-in's store round trips without the service: read station and driver, claim the
    window, remember the position, insert with the outbox, then pull what was published (the
    relay publishes a document it just inserted without reading it back)."""
    stations, drivers, windows, checkins = (
        db["raw_stations"],
        db["raw_drivers"],
        db["raw_windows"],
        db["raw_checkins"],
    )
    await stations.insert_one({"_id": "s", "location": {"lat": 29.9, "lng": 121.8}})
    await drivers.insert_many([{"_id": f"d{i}", "active": True} for i in range(count)])
    now = datetime.now(UTC)

    async def one(i: int) -> None:
        await stations.find_one({"_id": "s"}, {"holders": 0})
        await drivers.find_one({"_id": f"d{i}"})
        await windows.update_one(
            {"_id": f"d{i}|s|shower", "$or": [{"last": {"$lte": now - timedelta(minutes=30)}}]},
            {"$max": {"last": now}, "$set": {"by": str(i)}},
            upsert=True,
        )
        await drivers.update_one(
            {"_id": f"d{i}", "$or": [{"last": None}, {"last.at": {"$lt": now}}]},
            {"$set": {"last": {"station_id": "s", "at": now}}},
        )
        await checkins.insert_one(
            {"_id": f"c{i}", "outbox": [{"event_id": str(i), "p": b"x" * 400}]}
        )
        await checkins.update_one({"_id": f"c{i}"}, {"$pull": {"outbox": {"event_id": str(i)}}})

    return await _concurrently(count, one)


async def _concurrently(count: int, one: Callable[[int], Awaitable[None]]) -> float:
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def _register_drivers(kafka: str, topic: str, ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        now = datetime.now(UTC)
        futures = []
        for driver_id in ids:
            event = new_event(
                DriverRegistered(driver_id=driver_id, channel="partner", registered_at=now),
                source="driverhome/registry",
                subject=driver_id,
            )
            futures.append(await producer.send(topic, event.to_bytes(), key=driver_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run(kafka: str, mongo: str, report: Report) -> None:
    rng = random.Random(2026)
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    db_name = f"{prefix}_stations"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, tz_aware=True)
    db = client[db_name]
    raw_db = client[f"{prefix}_raw"]
    process = ServiceProcess(
        "stations",
        {
            "DRIVERHOME_ENVIRONMENT": "test",
            "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
            "DRIVERHOME_KAFKA_BOOTSTRAP": kafka,
            "DRIVERHOME_MONGO_URL": mongo,
            "DRIVERHOME_TOPIC_PREFIX": f"{prefix}.",
            "DRIVERHOME_MONGO_DB": db_name,
            "DRIVERHOME_LOG_LEVEL": "WARNING",
        },
        Path(tempfile.mkdtemp(prefix="driverhome-bench-")) / "stations.log",
    )
    try:
        for spec in INDEXES:
            await db[spec.collection].create_indexes(list(spec.models))
        docs = _network(rng)
        for start in range(0, len(docs), 1000):
            await db["stations"].insert_many(docs[start : start + 1000])
        process.start()
        await process.wait_ready()
        points = _query_points(rng)

        # 1. Nearest stations: the bare indexed cell query, then the service over HTTP.
        async def raw_query(lat: float, lng: float) -> None:
            query = cell_query(lat, lng, RADIUS_KM)
            selector = {query.field: {"$in": sorted(query.cells or ())}}
            await db["stations"].find(selector, {"holders": 0, "cells": 0}).to_list(None)

        raw = await _timed([functools.partial(raw_query, *p) for p in points])
        driver_token = issue_token(ServiceSettings(), role="driver", driver_id="drv_bench")
        headers = {"Authorization": f"Bearer {driver_token}"}
        async with httpx.AsyncClient(base_url=process.url, headers=headers, timeout=30) as http:
            sizes: list[int] = []

            async def nearby(lat: float, lng: float) -> None:
                answer = await http.get(
                    "/v1/stations/nearby",
                    params={"lat": lat, "lng": lng, "radius_km": RADIUS_KM, "limit": 20},
                )
                answer.raise_for_status()
                sizes.append(answer.json()["count"])

            system = await _timed([functools.partial(nearby, *p) for p in points])
        report.add(
            f"raw store: indexed cell query ({STATIONS:,} stations, r={RADIUS_KM:g} km): p50",
            f"{statistics.median(raw):,.1f} ms",
        )
        report.add("raw store: indexed cell query: p99", f"{pct(raw, 99):,.1f} ms")
        report.add(
            "stations: GET /v1/stations/nearby: p50",
            f"{statistics.median(system):,.1f} ms",
            f"ratio {statistics.median(system) / statistics.median(raw):.2f} of the raw query "
            f"(median {statistics.median(sizes):.0f} results of at most 20)",
        )
        report.add(
            "stations: GET /v1/stations/nearby: p99",
            f"{pct(system, 99):,.1f} ms",
            f"ratio {pct(system, 99) / pct(raw, 99):.2f} of the raw query p99",
        )

        # 2. Check-ins: drivers known through registry.events, then concurrent POSTs.
        drivers = [f"drv_bench_{i}" for i in range(CHECKINS)]
        await _register_drivers(kafka, f"{prefix}.registry.events", drivers)

        async def all_known() -> bool:
            return await db["drivers"].count_documents({}) >= CHECKINS

        await wait_until(all_known, timeout=300)
        raw_rate = await _raw_checkin_work(raw_db, CHECKINS)
        staff = issue_token(ServiceSettings(), role="operator", sub="bench-desk")
        async with httpx.AsyncClient(
            base_url=process.url, headers={"Authorization": f"Bearer {staff}"}, timeout=30
        ) as http:

            async def checkin(i: int) -> None:
                answer = await http.post(
                    "/v1/checkins",
                    json={
                        "driver_id": drivers[i],
                        "station_id": f"bst_{i % 2000:05d}",
                        "service_code": "shower",
                    },
                )
                if answer.status_code != 201 or answer.json()["status"] != "counted":
                    raise RuntimeError(f"check-in not counted: {answer.status_code} {answer.text}")

            rate = await _concurrently(CHECKINS, checkin)
        report.add(
            f"raw store: a check-in's 6 round trips ({CONCURRENCY} concurrent)",
            f"{raw_rate:,.0f} op/s",
        )
        report.add(
            f"stations: POST /v1/checkins, announced via outbox ({CONCURRENCY} concurrent)",
            f"{rate:,.0f} req/s",
            f"ratio {rate / raw_rate:.2f} of the raw per-check-in store work",
        )
    finally:
        process.stop()
        await client.drop_database(db_name)
        await client.drop_database(raw_db.name)
        await client.close()
        await _drop_topics(kafka, f"{prefix}.")


async def _drop_topics(kafka: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    try:
        await admin.start()
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    except Exception as exc:  # cleanup must not hide the figures
        print(f"bench: topics {prefix}* not deleted: {type(exc).__name__}")
    finally:
        await admin.close()


if __name__ == "__main__":
    import os

    class _Print:
        def add(self, name: str, value: str, note: str = "") -> None:
            print(f"  {name:<72} {value:>12}  {note}", flush=True)

    asyncio.run(
        run(
            os.environ.get("DRIVERHOME_TEST_KAFKA", "127.0.0.1:9092"),
            os.environ.get("DRIVERHOME_TEST_MONGO_URL", "mongodb://127.0.0.1:27017"),
            _Print(),
        )
    )
