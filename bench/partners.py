"""Partners: the gateway's HTTP ingest against raw Kafka produce, and 202 → "applied" latency.

1. Ingest throughput. The gateway alone (its own process) takes kept appointments over HTTP,
   one event per request (8 concurrent clients) and in batches of 100 (4 concurrent); each 202
   means the event is on ``partner.port-booking.events`` with ``acks=all``. The baselines
   produce the very bytes the gateway writes (the canonical CloudEvents, same keys) to a topic
   of the same partition count on the same broker, in the same run, with an idempotent
   ``acks=all`` aiokafka producer: pipelined (the broker's ceiling) and as 8 concurrent
   ``send_and_wait`` loops (one acknowledgement per record, as one HTTP request waits).
2. Latency. Gateway, registry and points as processes: the booking system registers drivers
   through the gateway; a burst of kept appointments for them measures the sustained maximum
   from HTTP to the receipt saying "applied" (points credited the event); then events paced at
   half that rate give the latency from each 202 to its receipt turning "applied" (the
   gateway's receipts are watched in its store every 25 ms, so figures are ±25 ms).

Sizes and time are bounded (``--single``, ``--batches``, ``--burst``, ``--samples``; every
wait has a timeout); everything runs on the loopback. ``python -m bench.partners`` runs this
section alone; ``make bench`` runs it with the others.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient

from bench.report import Report, pct, rate
from common.auth import issue_token
from common.events import parse_envelope
from common.kafka_auth import DevCredentials
from common.settings import ServiceSettings
from common.testing import (
    REPO_ROOT,
    Infra,
    ServiceProcess,
    drop_run,
    grant_run,
    revoke_run,
    wait_until,
)

PARTNER = "port-booking"
SINGLE = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
CONCURRENCY = 8
BATCH_SIZE = 100
BATCH_CONCURRENCY = 4
DRIVERS = 50
# Points caps a driver's earnings per rule by the day they are earned (10 points a day for a kept
# appointment, 2 each): the latency part's burst and samples, all earned the same day, stay under
# it only spread over this many drivers. A capped award is refused, and its receipt never says
# "applied", so the watcher would wait for it to the timeout.
REGISTERED = 250
WATCH_SECONDS = 0.025
# The bench measures the gateway, not its quotas: an operator raises the partner's limits.
NO_QUOTAS = {"quotas": {"rate_per_second": 100_000, "daily": 1_000_000_000}}

# Appointments are spread one per driver per day over past days (so points' daily and monthly
# caps never bite); points holds earning events older than its window for review, so the
# bench's points takes the widest window.
EXTRA_ENV = {"points": {"DRIVERHOME_EARNING_MAX_AGE_DAYS": "365"}}

Document = dict[str, Any]


def infra_for(kafka: str, mongo: str) -> Infra:
    """The broker with its development credentials, if it is the secured local one."""
    path = os.environ.get("DRIVERHOME_TEST_KAFKA_CREDENTIALS") or str(
        Path(os.environ.get("DRIVERHOME_INFRA_DIR") or REPO_ROOT / ".infra")
        / "kafka"
        / "credentials.json"
    )
    creds = DevCredentials.load(path) if Path(path).is_file() else None
    if creds is not None and creds.bootstrap != kafka:
        creds = None
    return Infra(kafka, mongo, "bench", creds)


@asynccontextmanager
async def platform(infra: Infra, names: Iterable[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Services as processes on a fresh topic prefix and databases, with their grants."""
    run = f"benchpt{uuid.uuid4().hex[:6]}"
    grants = await grant_run(infra, run)
    logs = Path(tempfile.mkdtemp(prefix="driverhome-bench-partners-"))
    processes: dict[str, ServiceProcess] = {}
    try:
        for name in names:
            env = {
                "DRIVERHOME_ENVIRONMENT": "test",
                "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
                "DRIVERHOME_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
                "DRIVERHOME_MONGO_URL": infra.mongo_url,
                "DRIVERHOME_TOPIC_PREFIX": f"{run}.",
                "DRIVERHOME_MONGO_DB": f"{run}_{name}",
                "DRIVERHOME_LOG_LEVEL": "WARNING",
                **infra.service_env(name),
                **EXTRA_ENV.get(name, {}),
            }
            processes[name] = ServiceProcess(name, env, logs / f"{name}.log")
            processes[name].start()
        for process in processes.values():
            await process.wait_ready(timeout=120)
        operator = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
        async with httpx.AsyncClient(base_url=processes["partners"].url, timeout=60) as http:
            raised = await http.patch(f"/v1/partners/{PARTNER}", json=NO_QUOTAS, headers=operator)
            raised.raise_for_status()
        yield run, processes
    finally:
        for process in processes.values():
            process.stop()
        await drop_run(infra, run)
        await revoke_run(infra, grants)


def kept(driver_id: str, at: datetime) -> Document:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "port.appointment.kept.v1",
        "subject": driver_id,
        "time": at.isoformat(),
        "data": {"appointment_id": f"A-{uuid.uuid4().hex[:8]}", "terminal": "BL2", "on_time": True},
    }


def appointments(drivers: list[str], count: int, start: datetime) -> list[Document]:
    """One kept appointment per driver per day of occurrence (the caps count the day earned:
    see ``REGISTERED``)."""
    return [
        kept(drivers[i % len(drivers)], start + timedelta(days=i // len(drivers)))
        for i in range(count)
    ]


def record(body: Document) -> tuple[bytes, bytes]:
    """The bytes the gateway writes for an event (its canonical form, the caller's source)."""
    event = parse_envelope(json.dumps({**body, "source": f"partner/{PARTNER}"}).encode())
    return event.subject.encode(), event.to_bytes()


async def _producer(infra: Infra) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(**infra.client(), enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    return producer


async def raw_pipelined(
    infra: Infra, topic: str, records: list[tuple[bytes, bytes]], n: int
) -> float:
    producer = await _producer(infra)
    try:
        started = time.perf_counter()
        futures = []
        for i in range(n):
            key, value = records[i % len(records)]
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
        return rate(n, time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_acked(infra: Infra, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = await _producer(infra)
    try:
        queue = iter(records)

        async def worker() -> None:
            for key, value in queue:
                await producer.send_and_wait(topic, value, key=key)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return rate(len(records), time.perf_counter() - started)
    finally:
        await producer.stop()


async def create_topic(infra: Infra, name: str, like: str) -> None:
    admin = AIOKafkaAdminClient(**infra.client())
    await admin.start()
    try:
        described = await admin.describe_topics([like])
        partitions = len(described[0]["partitions"])
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    # Every partition led and writable before anything is timed.
    producer = await _producer(infra)
    try:
        for partition in range(partitions):
            for _attempt in range(100):
                try:
                    await producer.send_and_wait(name, b"warm-up", partition=partition)
                    break
                except KafkaError:
                    await asyncio.sleep(0.1)
    finally:
        await producer.stop()


async def post_each(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    bodies: list[Document],
    on_accepted: Callable[[str], None] | None = None,
) -> float:
    """Every body as one request, ``CONCURRENCY`` at a time; events per second."""
    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:
            answer = await http.post("/v1/events", content=json.dumps(body), headers=headers)
            if answer.status_code != 202:
                raise AssertionError(f"{answer.status_code}: {answer.text[:200]}")
            if on_accepted:
                on_accepted(body["id"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return rate(len(bodies), time.perf_counter() - started)


async def post_batches(
    http: httpx.AsyncClient, headers: dict[str, str], batches: list[list[Document]]
) -> float:
    queue = iter(batches)

    async def worker() -> None:
        for batch in queue:
            answer = await http.post("/v1/events", content=json.dumps(batch), headers=headers)
            if answer.status_code != 207 or answer.json()["accepted"] != len(batch):
                raise AssertionError(f"{answer.status_code}: {answer.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(BATCH_CONCURRENCY)))
    return rate(sum(len(b) for b in batches), time.perf_counter() - started)


def partner_headers(kind: dict[str, str]) -> dict[str, str]:
    token = issue_token(
        ServiceSettings(),
        role="partner",
        partner_id=PARTNER,
        scope="events:write events:read drivers:read",
    )
    return {"Authorization": f"Bearer {token}", **kind}


async def ingest(infra: Infra, report: Report, single: int, batches: int) -> float:
    """Part 1; answers the single-event ingest rate."""
    start = datetime.now(UTC) - timedelta(days=300)
    drivers = [f"drv_bench{i:04d}" for i in range(DRIVERS)]
    one_by_one = appointments(drivers, single, start)
    in_batches = appointments(drivers, batches * BATCH_SIZE, start + timedelta(days=1))
    records = [record(b) for b in one_by_one + in_batches]
    async with platform(infra, ["partners"]) as (run, services):
        raw_topic = f"{run}.bench.raw"
        await create_topic(infra, raw_topic, like=f"{run}.partner.{PARTNER}.events")
        pipelined = await raw_pipelined(infra, raw_topic, records, max(10_000, len(records)))
        acked = await raw_acked(infra, raw_topic, records[:single])
        size = statistics.mean(len(v) for _k, v in records)
        report.add(
            f"raw aiokafka produce, the gateway's event bytes ({size:.0f} B, acks=all)",
            f"{pipelined:,.0f} msg/s",
            "idempotent, pipelined (linger 5 ms)",
        )
        report.add(
            "raw aiokafka send_and_wait, same bytes (8 concurrent)",
            f"{acked:,.0f} msg/s",
            "one acks=all round trip per record",
        )
        async with httpx.AsyncClient(base_url=services["partners"].url, timeout=60) as http:
            one = await post_each(http, partner_headers(SINGLE), one_by_one)
            many = await post_batches(
                http,
                partner_headers(BATCH),
                [in_batches[i : i + BATCH_SIZE] for i in range(0, len(in_batches), BATCH_SIZE)],
            )
        report.add(
            "partners: POST /v1/events, one event per request (8 concurrent)",
            f"{one:,.0f} ev/s",
            f"ratio {one / pipelined:.3f} of raw produce; {one / acked:.2f} of raw send_and_wait",
        )
        report.add(
            f"partners: POST /v1/events, batches of {BATCH_SIZE} (4 concurrent)",
            f"{many:,.0f} ev/s",
            f"ratio {many / pipelined:.3f} of raw produce; {many / acked:.2f} of raw send_and_wait",
        )
    return one


def registration(run: str, i: int) -> Document:
    ref = f"BENCH-{i:04d}"
    # A keyed hash's shape, of nothing personal.
    digest = hashlib.sha256(f"{run}:{i}".encode()).hexdigest()
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "driver.registered.v1",
        "subject": ref,
        "time": datetime.now(UTC).isoformat(),
        "data": {"partner_driver_ref": ref, "national_id_hash": digest},
    }


class Watcher:
    """When each event's receipt in the gateway's store first names points as applying it."""

    def __init__(self, receipts: Any, expected: int) -> None:
        self._receipts = receipts
        self._expected = expected
        self.accepted: dict[str, float] = {}
        self.applied: dict[str, float] = {}

    def accept(self, event_id: str) -> None:
        self.accepted[event_id] = time.perf_counter()

    async def watch(self) -> None:
        while len(self.applied) < self._expected:
            pending = [k for k in self.accepted if k not in self.applied]
            if pending:
                keys = [f"{PARTNER}\x1f{k}" for k in pending]
                query = {"_id": {"$in": keys}, "applied.by": "points"}
                async for doc in self._receipts.find(query, {"_id": 1}):
                    self.applied.setdefault(doc["_id"].split("\x1f", 1)[1], time.perf_counter())
            await asyncio.sleep(WATCH_SECONDS)


async def latency(infra: Infra, report: Report, burst: int, samples: int) -> None:
    """Part 2: the sustained maximum to "applied", then 202 → "applied" at half of it."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_url, tz_aware=True)
    try:
        async with platform(infra, ["partners", "registry", "points"]) as (run, services):
            receipts = client[f"{run}_partners"]["receipts"]
            accounts = client[f"{run}_points"]["accounts"]
            async with httpx.AsyncClient(base_url=services["partners"].url, timeout=60) as http:
                drivers = await register(http, run)
                await wait_until(lambda: _count(accounts, len(drivers)), timeout=300)
                start = datetime.now(UTC) - timedelta(days=300)
                headers = partner_headers(SINGLE)

                # The sustained maximum: a burst, from the first request to the last "applied".
                watcher = Watcher(receipts, burst)
                bodies = appointments(drivers, burst, start)
                watching = asyncio.create_task(watcher.watch())
                started = time.perf_counter()
                await post_each(http, headers, bodies, watcher.accept)
                await asyncio.wait_for(watching, timeout=600)
                sustained = rate(burst, max(watcher.applied.values()) - started)
                report.add(
                    "partners: kept appointments HTTP -> receipt applied, sustained",
                    f"{sustained:,.0f} ev/s",
                    f"burst of {burst} (8 concurrent; gateway, registry and points)",
                )

                # Half that load, paced; each event's 202 -> its receipt says applied.
                paced = max(1.0, sustained / 2)
                count = min(samples, max(50, int(paced * 20)))
                watcher = Watcher(receipts, count)
                later = start + timedelta(days=burst // len(drivers) + 1)
                bodies = appointments(drivers, count, later)
                watching = asyncio.create_task(watcher.watch())
                await pace([partial(_send, http, headers, b, watcher) for b in bodies], paced)
                await asyncio.wait_for(watching, timeout=300)
        latencies = [(watcher.applied[k] - t) * 1000 for k, t in watcher.accepted.items()]
        report.add(
            f"partners: 202 -> receipt applied at {paced:.0f} ev/s (half load): p50",
            f"{statistics.median(latencies):,.0f} ms",
            f"{count} events; watched every {WATCH_SECONDS * 1000:.0f} ms",
        )
        report.add(
            "partners: 202 -> receipt applied at half load: p99",
            f"{pct(latencies, 99):,.0f} ms",
        )
    finally:
        await client.close()


async def register(http: httpx.AsyncClient, run: str) -> list[str]:
    """The booking system registers the bench's drivers and learns their ids by reference."""
    batch = [registration(run, i) for i in range(REGISTERED)]
    for first in range(0, REGISTERED, BATCH_SIZE):
        part = batch[first : first + BATCH_SIZE]
        answer = await http.post(
            "/v1/events", content=json.dumps(part), headers=partner_headers(BATCH)
        )
        if answer.status_code != 207 or answer.json()["accepted"] != len(part):
            raise AssertionError(f"{answer.status_code}: {answer.text[:300]}")
    headers = partner_headers({})
    found: dict[str, str] = {}

    async def linked() -> bool:
        for event in batch:
            ref = event["subject"]
            if ref not in found:
                got = await http.get("/v1/drivers", params={"ref": ref}, headers=headers)
                if got.status_code == 200:
                    found[ref] = got.json()["driver_id"]
        return len(found) == REGISTERED

    await wait_until(linked, timeout=300, interval=0.5)
    return list(found.values())


async def _send(
    http: httpx.AsyncClient, headers: dict[str, str], body: Document, watcher: Watcher
) -> None:
    answer = await http.post("/v1/events", content=json.dumps(body), headers=headers)
    if answer.status_code != 202:
        raise AssertionError(f"{answer.status_code}: {answer.text[:200]}")
    watcher.accept(body["id"])


async def pace(sends: list[Callable[[], Coroutine[Any, Any, None]]], per_second: float) -> None:
    """Start one send every 1/per_second s (a slow answer does not slow the pace)."""
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for i, send in enumerate(sends):
        tasks.append(asyncio.create_task(send()))
        await asyncio.sleep(max(0.0, started + (i + 1) / per_second - time.perf_counter()))
    await asyncio.gather(*tasks)


async def _count(collection: Any, count: int) -> bool:
    return bool(await collection.count_documents({}) >= count)


async def run(
    kafka: str,
    mongo: str,
    report: Report,
    *,
    single: int = 1500,
    batches: int = 30,
    burst: int = 600,
    samples: int = 400,
) -> None:
    infra = infra_for(kafka, mongo)
    await ingest(infra, report, single, batches)
    await latency(infra, report, burst, samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--kafka", default=os.environ.get("DRIVERHOME_TEST_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--mongo", default=os.environ.get("DRIVERHOME_TEST_MONGO_URL", "mongodb://127.0.0.1:27017")
    )
    parser.add_argument("--single", type=int, default=1500)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--burst", type=int, default=600)
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(
        run(
            args.kafka,
            args.mongo,
            Report(),
            single=args.single,
            batches=args.batches,
            burst=args.burst,
            samples=args.samples,
        )
    )
