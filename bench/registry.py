"""Registry benchmarks: registration throughput over HTTP and search latency with N drivers.

N drivers (100,000 by default) are bulk-loaded into the registry's database through its store
layer, then the registry runs as a separate process. Each system figure is reported as a ratio
of a raw store baseline measured in the same run on the same data (handbook section 8):

- registration: a bare script doing exactly a registration's store round trips (look the ID hash
  up, list the driver under its lookup keys and the plate under the driver in one bulk write,
  claim the plate, insert the driver with its outbox entry, pull the outbox once published)
  with the same concurrency, before and after the service's run (the ratio is to the mean of
  the two), against ``POST /v1/drivers``;
- search: the bare ``find`` each search kind comes down to (same filter, sort and limit), against
  the search endpoints, as p50/p99 latency over 1,000 queries per kind (with 100, the p99 was
  the second-largest sample and one stall on this machine decided it).

``python -m bench.registry --registry-drivers 5000`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from pymongo import AsyncMongoClient, UpdateOne

from bench.cpu import CpuMeter, add_cpu_row, add_store_cpu_row, store_meter
from bench.report import bracketed
from common.auth import issue_token
from common.mongo import ensure_indexes
from common.outbox import PENDING_FIELD, note_all_marked, outbox_indexes
from common.pii import PiiProtector, mask_national_id, mask_phone
from common.settings import ServiceSettings
from common.testing import ServiceProcess
from registry.domain import Driver, NationalIdRecord, Vehicle
from registry.settings import RegistrySettings
from registry.store import ALL_INDEXES, lookups
from registry.store.drivers import DRIVERS, to_doc
from registry.store.lookups import KEYS_FIELD, LOOKUPS, LookupStore
from registry.store.vehicles import VEHICLES
from registry.store.vehicles import to_doc as vehicle_doc

DRIVERS_DEFAULT = 100_000
REGISTRATIONS = 1_000
CONCURRENCY = 8
QUERIES = 1_000
FLEETS = 400
GRIDS = 60
BATCH = 2_000
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋"
GIVEN = "建国海平志强瑞申国华永军小龙春生卫东红兵明伟军勇磊涛斌超刚平辉鹏华"


class Report(Protocol):
    def add(self, name: str, value: str, note: str = "") -> None: ...


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    national_id: str
    plate: str
    fleet_id: str
    grid_id: str


def person(i: int) -> Person:
    """The i-th synthetic driver: distinct valid ID, phone and plate for every i < 10 million."""
    body = f"330206{1960 + i % 40}{1 + (i // 40) % 12:02d}{1 + (i // 480) % 28:02d}{i // 13440:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    chars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    n, tail = i, []
    for _ in range(5):
        n, r = divmod(n, len(chars))
        tail.append(chars[r])
    return Person(
        name=SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)] + GIVEN[i % 7],
        phone=f"17{i:09d}",
        national_id=body + check,
        plate="浙B" + "".join(reversed(tail)),
        fleet_id=f"flt_bench_{i % FLEETS:04d}",
        grid_id=f"grd_bench_{i % GRIDS:03d}",
    )


def _docs(pii: PiiProtector, start: int, stop: int) -> tuple[list[Any], list[Any]]:
    now = datetime.now(UTC)
    drivers, vehicles = [], []
    for i in range(start, stop):
        p = person(i)
        protected = pii.protect("national_id", p.national_id, mask_national_id(p.national_id))
        driver_id = f"drv_bench_{i:08d}"
        driver = Driver(
            driver_id=driver_id,
            name=p.name,
            national_id=NationalIdRecord(**protected.model_dump()),
            phone=pii.protect("phone", p.phone, mask_phone(p.phone)),
            fleet_id=p.fleet_id,
            fleet=f"车队{i % FLEETS}",
            grid_id=p.grid_id,
            status="inactive" if i % 50 == 0 else "active",
            channel="station",
            created_at=now,
            updated_at=now,
        )
        doc = to_doc(driver)
        doc[KEYS_FIELD] = lookups.keys_of(doc)
        drivers.append(doc)
        vehicles.append(vehicle_doc(Vehicle(plate=p.plate, driver_id=driver_id, added_at=now)))
    return drivers, vehicles


async def load(db: Any, pii: PiiProtector, count: int) -> float:
    """Bulk-insert ``count`` drivers, their vehicles and their ``lookups`` documents (built
    here from all drivers, one insert_many); returns drivers per second."""
    # With the outbox marks' indexes the service adds at start-up: the bare work pays for them.
    await ensure_indexes(db, [*ALL_INDEXES, outbox_indexes(DRIVERS)])
    started = time.perf_counter()
    filed: dict[str, list[str]] = {}
    for start in range(0, count, BATCH):
        drivers, vehicles = _docs(pii, start, min(count, start + BATCH))
        for doc in drivers:
            for key in doc[KEYS_FIELD]:
                filed.setdefault(key, []).append(doc["_id"])
        for vehicle in vehicles:
            filed.setdefault(lookups.plates_key(vehicle["driver_id"]), []).append(vehicle["_id"])
        await db[DRIVERS].insert_many(drivers, ordered=False)
        await db[VEHICLES].insert_many(vehicles, ordered=False)
    docs = [{"_id": key, "ids": ids, "v": 1} for key, ids in filed.items()]
    for start in range(0, len(docs), BATCH):
        await db[LOOKUPS].insert_many(docs[start : start + BATCH], ordered=False)
    await LookupStore(db).mark_filed()  # every driver above is filed: no start-up backfill
    await note_all_marked(db, DRIVERS)  # and holds no unsent event: no upgrade scan either
    return count / (time.perf_counter() - started)


async def _concurrently(count: int, one: Callable[[int], Awaitable[None]]) -> float:
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def raw_registration(
    db: Any, pii: PiiProtector, first: int, count: int
) -> tuple[float, list[tuple[str, str]]]:
    """Exactly a registration's store round trips, no HTTP, no validation, no events: their
    rate, and the drivers and plates written (for :func:`remove_raw`)."""
    now = datetime.now(UTC)
    written: list[tuple[str, str]] = []

    async def one(k: int) -> None:
        p = person(first + k)
        driver_id = f"drv_raw_{uuid.uuid4().hex}"
        written.append((driver_id, p.plate))
        digest = pii.hash("national_id", p.national_id)
        known = [lookups.national_id_key(h) for h in pii.hashes("national_id", p.national_id)]
        await db[LOOKUPS].find({"_id": {"$in": known}}).to_list()
        doc: dict[str, Any] = {
            "_id": driver_id,
            "name": p.name,
            "national_id": {"hash": digest, "enc": "x" * 60, "masked": "x" * 18},
            "phone": {"hash": pii.hash("phone", p.phone), "enc": "x" * 50, "masked": "x" * 11},
            "erased": False,
            # The event and its mark for the outbox sweeper, cleared below as flush clears them.
            "outbox": [{"event_id": driver_id, "payload": b"x" * 400}],
            PENDING_FIELD: driver_id,
        }
        keys = doc[KEYS_FIELD] = lookups.keys_of(doc)
        # The driver's keys and the plate under the driver's plates, in one bulk write.
        filings = [(k, driver_id) for k in keys] + [(lookups.plates_key(driver_id), p.plate)]
        await db[LOOKUPS].bulk_write(
            [
                UpdateOne({"_id": k}, {"$addToSet": {"ids": v}, "$inc": {"v": 1}}, upsert=True)
                for k, v in filings
            ],
            ordered=False,
        )
        await db[VEHICLES].insert_one(
            {"_id": p.plate, "driver_id": driver_id, "holder_active": True, "added_at": now}
        )
        await db[DRIVERS].insert_one(doc)
        await db[DRIVERS].update_one(
            {"_id": driver_id, PENDING_FIELD: driver_id},
            {"$pull": {"outbox": {"event_id": driver_id}}, "$unset": {PENDING_FIELD: ""}},
        )

    return await _concurrently(count, one), written


async def remove_raw(db: Any, written: list[tuple[str, str]]) -> None:
    """Take back what :func:`raw_registration` wrote, untimed, so the loaded store stays as
    loaded."""
    store = LookupStore(db)
    removed = [d for d, _ in written]
    async for doc in db[DRIVERS].find({"_id": {"$in": removed}}, {KEYS_FIELD: 1}):
        await store.remove(doc["_id"], doc[KEYS_FIELD])
    await db[DRIVERS].delete_many({"_id": {"$in": removed}})
    await db[VEHICLES].delete_many({"_id": {"$in": [p for _, p in written]}})
    await db[LOOKUPS].delete_many({"_id": {"$in": [lookups.plates_key(d) for d in removed]}})


async def http_registration(url: str, first: int, count: int) -> float:
    headers = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def one(k: int) -> None:
            p = person(first + k)
            body = {
                "name": p.name,
                "phone": p.phone,
                "national_id": p.national_id,
                "plate": p.plate,
            }
            answer = await http.post("/v1/drivers", json=body, headers=headers)
            for _ in range(5):  # a well-behaved client honours 503 + Retry-After
                if answer.status_code != 503:
                    break
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                answer = await http.post("/v1/drivers", json=body, headers=headers)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"registration answered {answer.status_code}: {answer.text}")

        return await _concurrently(count, one)


@dataclass(frozen=True)
class SearchKind:
    name: str
    # The lookups keys the search reads (none: the plate's vehicle document instead).
    keys: Callable[[Person], list[str]]
    http: Callable[[Person], tuple[str, str, dict[str, Any]]]


def _kinds(pii: PiiProtector) -> list[SearchKind]:
    return [
        SearchKind(
            "phone (keyed-hash lookup)",
            lambda p: [lookups.phone_key(h) for h in pii.hashes("phone", p.phone)],
            lambda p: ("POST", "/v1/drivers/search", {"phone": p.phone}),
        ),
        SearchKind(
            "plate",
            lambda p: [],
            lambda p: ("GET", "/v1/drivers", {"plate": p.plate}),
        ),
        SearchKind(
            "name prefix (surname + first given character)",
            lambda p: [lookups.name_key(p.name[:2])],
            lambda p: ("GET", "/v1/drivers", {"name_prefix": p.name[:2]}),
        ),
        SearchKind(
            "fleet",
            lambda p: [lookups.fleet_key(p.fleet_id)],
            lambda p: ("GET", "/v1/drivers", {"fleet_id": p.fleet_id}),
        ),
        SearchKind(
            "grid and status",
            lambda p: lookups.grid_keys(p.grid_id, ["active"]),
            lambda p: ("GET", "/v1/drivers", {"grid_id": p.grid_id, "status": "active"}),
        ),
    ]


async def bare_search(db: Any, kind: SearchKind, p: Person) -> list[Any]:
    """The store work a search comes down to, nothing else: the lookups document(s) by
    ``_id`` (or the plate's vehicle), the first page of drivers by ``_id``, and their plates
    (lists in ``lookups``, vehicles by ``_id``) which the answer carries."""
    keys = kind.keys(p)
    if keys:
        ids: set[str] = set()
        async for doc in db[LOOKUPS].find({"_id": {"$in": keys}}):
            ids.update(doc["ids"])
    else:
        vehicle = await db[VEHICLES].find_one({"_id": p.plate})
        ids = {vehicle["driver_id"]} if vehicle else set()
    page = sorted(ids)[:50]
    found = [d async for d in db[DRIVERS].find({"_id": {"$in": page}}).sort("_id", 1)]
    plates: list[str] = []
    lists = {"_id": {"$in": [lookups.plates_key(d["_id"]) for d in found]}}
    async for doc in db[LOOKUPS].find(lists):
        plates.extend(doc["ids"])
    await db[VEHICLES].find({"_id": {"$in": plates}}).to_list()
    return found


async def search_latencies(
    db: Any, url: str, pii: PiiProtector, drivers: int, report: Report
) -> None:
    rng = random.Random(2026)
    sample = [person(rng.randrange(drivers)) for _ in range(QUERIES)]
    # The bench's own full collections (60-70 ms each with a district's test data in memory)
    # fell on random samples of either side; what is loaded by now stays out of their walk.
    gc.collect()
    gc.freeze()
    headers = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def bare(kind: SearchKind, p: Person) -> float:
            started = time.perf_counter()
            found = await bare_search(db, kind, p)
            took = (time.perf_counter() - started) * 1000
            assert found, kind.name
            return took

        async def over_http(kind: SearchKind, p: Person) -> float:
            method, path, params = kind.http(p)
            started = time.perf_counter()
            if method == "GET":
                answer = await http.get(path, params={**params, "limit": 50}, headers=headers)
            else:
                answer = await http.post(path, json={**params, "limit": 50}, headers=headers)
            took = (time.perf_counter() - started) * 1000
            if answer.status_code != 200 or not answer.json()["items"]:
                raise RuntimeError(f"search {kind.name} answered {answer.status_code}")
            return took

        for kind in _kinds(pii):
            raw_ms: list[float] = []
            http_ms: list[float] = []
            # Each query both ways, in turn which goes first, so a burst of background work on
            # the machine (the store's JVM collecting, a broker's housekeeping) falls on both
            # sides alike, and neither always finds the store warmed by the other.
            for i, p in enumerate(sample):
                if i % 2:
                    http_ms.append(await over_http(kind, p))
                    raw_ms.append(await bare(kind, p))
                else:
                    raw_ms.append(await bare(kind, p))
                    http_ms.append(await over_http(kind, p))
            for q in (50, 99):
                system, raw = pct(http_ms, q), pct(raw_ms, q)
                report.add(
                    f"registry search by {kind.name}: p{q}",
                    f"{system:,.1f} ms",
                    f"ratio {system / raw:.2f} of the bare store work ({raw:,.1f} ms)",
                )


async def run(kafka: str, mongo: str, report: Report, *, drivers: int = DRIVERS_DEFAULT) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    db_name = f"{prefix}_registry"
    settings = RegistrySettings()
    pii = PiiProtector.from_settings(settings)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, tz_aware=True, w="majority")
    db = client[db_name]
    process = ServiceProcess(
        "registry",
        {
            "DRIVERHOME_ENVIRONMENT": "test",
            "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
            "DRIVERHOME_KAFKA_BOOTSTRAP": kafka,
            "DRIVERHOME_MONGO_URL": mongo,
            "DRIVERHOME_TOPIC_PREFIX": f"{prefix}.",
            "DRIVERHOME_MONGO_DB": db_name,
            "DRIVERHOME_LOG_LEVEL": "WARNING",
        },
        Path(tempfile.mkdtemp(prefix="driverhome-bench-")) / "registry.log",
    )
    try:
        load_rate = await load(db, pii, drivers)
        report.add(
            f"registry: bulk load of {drivers:,} drivers via the store layer",
            f"{load_rate:,.0f} drivers/s",
        )
        registrations = min(REGISTRATIONS, max(100, drivers // 10))
        with CpuMeter() as bare_cpu, store_meter(mongo) as bare_store:
            before, written = await raw_registration(db, pii, drivers, registrations)
        await remove_raw(db, written)
        process.start()
        await process.wait_ready()
        assert process.process is not None
        with CpuMeter(process.process.pid) as registry_cpu, store_meter(mongo) as store_cpu:
            http_rate = await http_registration(process.url, drivers + registrations, registrations)
        # The bare work again after the service's run (new people): the ratio is to the mean.
        after, written = await raw_registration(db, pii, drivers + 2 * registrations, registrations)
        await remove_raw(db, written)
        raw, drift = bracketed(before, after)
        report.add(
            f"registry: POST /v1/drivers ({CONCURRENCY} concurrent, {drivers:,} loaded)",
            f"{http_rate:,.0f} req/s",
            f"ratio {http_rate / raw:.2f} of a registration's bare store work ({raw:,.0f}/s, "
            f"{drift})",
        )
        add_cpu_row(
            report,
            "registry: CPU per registration, registry process",
            service=(registry_cpu, registrations),
            bare=(bare_cpu, registrations),
        )
        add_store_cpu_row(
            report,
            "store: CPU per registration",
            service=(store_cpu, registrations),
            bare=(bare_store, registrations),
        )
        await search_latencies(db, process.url, pii, drivers, report)
    finally:
        process.stop()
        await client.drop_database(db_name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--kafka", default=os.environ.get("DRIVERHOME_TEST_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--mongo", default=os.environ.get("DRIVERHOME_TEST_MONGO_URL", "mongodb://127.0.0.1:27017")
    )
    parser.add_argument("--registry-drivers", type=int, default=DRIVERS_DEFAULT)
    args = parser.parse_args()

    class Printed:
        def add(self, name: str, value: str, note: str = "") -> None:
            print(f"  {name:<58} {value:>14}  {note}", flush=True)

    try:
        asyncio.run(run(args.kafka, args.mongo, Printed(), drivers=args.registry_drivers))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
