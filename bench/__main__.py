"""``make bench``: raw baselines and the system, measured in one run, reported as ratios.

Absolute rates on a shared 2-core machine are noise; the ratio of the system to the raw
baseline measured minutes apart on the same machine is the figure to watch (handbook §8).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient, ReturnDocument

# The benches mint development tokens and start services with the development keys: say so
# (unset means production). `make bench` sets it too.
os.environ.setdefault("DRIVERHOME_ENVIRONMENT", "test")

from bench.footprint import PeakMemory, report_peaks
from bench.plot import write_plot
from bench.report import Report, pct, rate
from common.auth import issue_token
from common.events import new_event
from common.events.registry import DriverRegistered
from common.settings import ServiceSettings
from common.testing import ServiceProcess, wait_until

PAYLOAD = b"x" * 400  # about the size of one of our CloudEvents


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def raw_produce(bootstrap: str, topic: str, count: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic, PAYLOAD, key=f"drv_{i % 5000}".encode())
            for i in range(count)
        ]
        await asyncio.gather(*futures)
        return rate(count, time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(records) for records in batch.values())
            await consumer.commit()
        return rate(seen, time.perf_counter() - started)
    finally:
        await consumer.stop()


async def raw_store(mongo_url: str, count: int) -> dict[str, float]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url, w="majority")
    db = client[f"bench_{uuid.uuid4().hex[:8]}"]
    try:
        await db["marks"].create_index(
            [("subject", 1), ("source", 1), ("event_id", 1)], unique=True
        )
        started = time.perf_counter()
        for i in range(count):
            await db["inserts"].insert_one({"_id": i, "v": PAYLOAD})
        inserts = rate(count, time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(count):
            await db["inserts"].update_one({"_id": i}, {"$inc": {"n": 1}})
        updates = rate(count, time.perf_counter() - started)
        # Exactly the per-event store work of the first flow's consumer: check the dedupe
        # marker, upsert the account, write the marker.
        started = time.perf_counter()
        for i in range(count):
            key = f"drv_{i}\x1fsrc\x1f{i}"
            await db["marks"].find_one({"_id": key}, {"fingerprint": 1})
            await db["accounts"].find_one_and_update(
                {"_id": f"drv_{i}"},
                {"$setOnInsert": {"balance": 0, "grade": "A"}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            await db["marks"].insert_one(
                {"_id": key, "subject": f"drv_{i}", "source": "src", "event_id": str(i)}
            )
        flow = rate(count, time.perf_counter() - started)
        return {"insert": inserts, "update": updates, "flow_store_work": flow}
    finally:
        await client.drop_database(db.name)
        await client.close()


async def system(
    bootstrap: str, mongo_url: str, events: int, latency_samples: int
) -> dict[str, object]:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    env = {
        "DRIVERHOME_ENVIRONMENT": "test",
        # A bench measures throughput from one address and token.
        "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
        "DRIVERHOME_KAFKA_BOOTSTRAP": bootstrap,
        "DRIVERHOME_MONGO_URL": mongo_url,
        "DRIVERHOME_TOPIC_PREFIX": prefix,
        "DRIVERHOME_LOG_LEVEL": "WARNING",
    }
    logs = Path(tempfile.mkdtemp(prefix="driverhome-bench-"))
    registry = ServiceProcess(
        "registry", {**env, "DRIVERHOME_MONGO_DB": f"{prefix[:-1]}_registry"}, logs / "registry.log"
    )
    points = ServiceProcess(
        "points", {**env, "DRIVERHOME_MONGO_DB": f"{prefix[:-1]}_points"}, logs / "points.log"
    )
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url, tz_aware=True)
    accounts = client[f"{prefix[:-1]}_points"]["accounts"]
    out: dict[str, object] = {}
    try:
        registry.start()
        points.start()
        await registry.wait_ready()
        await points.wait_ready()

        # 1. Consumer throughput: a backlog of driver.registered events drained by points.
        await points_backlog(bootstrap, f"{prefix}registry.events", events)
        started = time.perf_counter()
        await wait_until(lambda: _at_least(accounts, events), timeout=600, interval=0.25)
        out["drain_rate"] = rate(events, time.perf_counter() - started)

        # 2. HTTP registration throughput (8 concurrent clients) into the registry.
        token = {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
        registrations = max(200, events // 5)
        http_ids: list[str] = []
        async with httpx.AsyncClient(base_url=registry.url, timeout=30) as http:
            queue = iter(range(registrations))

            async def worker() -> None:
                for i in queue:
                    answer = await http.post("/v1/drivers", json=_driver(i), headers=token)
                    answer.raise_for_status()
                    http_ids.append(answer.json()["driver_id"])

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(8)))
            out["http_rate"] = rate(registrations, time.perf_counter() - started)
            await wait_until(lambda: _at_least(accounts, events + registrations), timeout=600)

            # 3. End-to-end latency at a paced load (well below the measured capacity):
            # registry's registered_at -> the points account's created_at, same clock.
            pace = max(1.0, float(out["http_rate"]) / 4)  # type: ignore[arg-type]
            sample_ids: list[str] = []
            for i in range(latency_samples):
                tick = time.perf_counter()
                answer = await http.post(
                    "/v1/drivers", json=_driver(registrations + i), headers=token
                )
                sample_ids.append(answer.json()["driver_id"])
                await asyncio.sleep(max(0.0, 1 / pace - (time.perf_counter() - tick)))
        await wait_until(
            lambda: _at_least(accounts, events + registrations + latency_samples), timeout=600
        )
        latencies = []
        async for doc in accounts.find({"_id": {"$in": sample_ids}}):
            latencies.append((doc["created_at"] - doc["opened_at"]).total_seconds() * 1000)
        out["paced_rate"] = pace
        out["latency_ms"] = latencies
    finally:
        registry.stop()
        points.stop()
        for name in (f"{prefix[:-1]}_registry", f"{prefix[:-1]}_points"):
            await client.drop_database(name)
        await client.close()
    return out


async def _at_least(collection: object, count: int) -> bool:
    return await collection.count_documents({}) >= count  # type: ignore[attr-defined, no-any-return]


def _driver(i: int) -> dict[str, str]:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    year, month, day = 1960 + (i // 336000) % 40, (i // 28000) % 12 + 1, (i // 1000) % 28 + 1
    body = f"330206{year}{month:02d}{day:02d}{i % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return {
        "name": "测试司机",
        "phone": f"139{i:08d}",
        "national_id": body + check,
        "plate": f"浙B{i % 100000:05d}",
    }


async def points_backlog(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        now = datetime.now(UTC)
        futures = []
        for i in range(count):
            driver_id = f"drv_bench_{i}"
            event = new_event(
                DriverRegistered(driver_id=driver_id, channel="partner", registered_at=now),
                source="driverhome/registry",
                subject=driver_id,
            )
            futures.append(await producer.send(topic, event.to_bytes(), key=driver_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def main(args: argparse.Namespace) -> None:
    report = Report()
    # Idle memory and start-up first, before anything loads the machine.
    if "footprint" in args.sections:
        print("footprint (start-up and idle memory)", flush=True)
        try:
            await importlib.import_module("bench.footprint").run(args.kafka, args.mongo, report)
        except Exception as exc:  # the figures after it still count
            report.add("footprint: did not finish", type(exc).__name__, str(exc)[:120])
    peaks = PeakMemory(os.getpid())
    with peaks.running():
        await measure(args, report)
    report_peaks(report, peaks.peaks)
    if args.write:
        write_markdown(Path(args.write), report, args)


def checkpoint(args: argparse.Namespace, report: Report, done: str) -> None:
    """The rows so far into the report file, so a run stopped by its time limit keeps them."""
    if args.write:
        write_markdown(Path(args.write), report, args, partial=done)


async def measure(args: argparse.Namespace, report: Report) -> None:
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await create_topic(args.kafka, topic, 12)
    print("raw baselines", flush=True)
    produce = await raw_produce(args.kafka, topic, args.messages)
    report.add("raw aiokafka produce (idempotent, acks=all)", f"{produce:,.0f} msg/s")
    consume = await raw_consume(args.kafka, topic, args.messages)
    report.add("raw aiokafka consume (one group, 12 partitions)", f"{consume:,.0f} msg/s")
    store = await raw_store(args.mongo, args.store_ops)
    report.add("raw store insert_one (w=majority)", f"{store['insert']:,.0f} op/s")
    report.add("raw store update_one $inc", f"{store['update']:,.0f} op/s")
    report.add(
        "raw store: the first flow's per-event work (3 round trips)",
        f"{store['flow_store_work']:,.0f} ev/s",
    )
    print("system (registry and points as separate processes)", flush=True)
    sysm = await system(args.kafka, args.mongo, args.events, args.latency_samples)
    drain = float(sysm["drain_rate"])  # type: ignore[arg-type]
    http_rate = float(sysm["http_rate"])  # type: ignore[arg-type]
    latencies: list[float] = sysm["latency_ms"]  # type: ignore[assignment]
    report.add(
        "points: driver.registered backlog -> accounts",
        f"{drain:,.0f} ev/s",
        f"ratio {drain / store['flow_store_work']:.2f} of the raw per-event store work",
    )
    report.add(
        "registry: POST /v1/drivers (8 concurrent)",
        f"{http_rate:,.0f} req/s",
        f"ratio {http_rate / store['insert']:.2f} of raw insert_one",
    )
    report.add(
        f"first flow end-to-end latency at {float(sysm['paced_rate']):.0f} req/s: p50",  # type: ignore[arg-type]
        f"{statistics.median(latencies):,.1f} ms",
    )
    report.add("first flow end-to-end latency: p99", f"{pct(latencies, 99):,.1f} ms")
    checkpoint(args, report, "the baselines and the first flow")
    for section in (s for s in args.sections if s != "footprint"):
        print(f"{section}", flush=True)
        module = importlib.import_module(f"bench.{section}")
        sizes = {
            "registry": {"drivers": args.registry_drivers},
            "notify": {"drivers": args.notify_drivers},
            "cases": {"cases": args.cases},
        }
        try:
            await module.run(args.kafka, args.mongo, report, **sizes.get(section, {}))
        except Exception as exc:  # one section failing must not cost the others' figures
            report.add(f"{section}: did not finish", type(exc).__name__, str(exc)[:120])
        checkpoint(args, report, f"sections up to {section}")


def _has_section(name: str) -> bool:
    return importlib.util.find_spec(f"bench.{name}") is not None


def command(args: argparse.Namespace) -> str:
    return (
        f"python -m bench --messages {args.messages} --store-ops {args.store_ops} "
        f"--events {args.events} --latency-samples {args.latency_samples} "
        f"--registry-drivers {args.registry_drivers} --notify-drivers {args.notify_drivers} "
        f"--cases {args.cases} --sections {' '.join(args.sections)}"
    )


def write_markdown(
    path: Path, report: Report, args: argparse.Namespace, *, partial: str | None = None
) -> None:
    marker = "<!-- bench:results -->"
    plot = path.with_suffix(".png")
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    drawn = write_plot(plot, report.rows, f"make bench, {when}: {command(args)}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        marker,
        f"Run: {when} on {platform.node()} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average at the end {load}); command: `make bench` "
        f"(`{command(args)}`).",
        "",
        *(
            [
                f"**Partial**: the run had done {partial} when this was written; it was stopped "
                "or is still running.",
                "",
            ]
            if partial
            else []
        ),
        f"Sizes: {args.registry_drivers:,} drivers loaded for the registry section, "
        f"{args.notify_drivers:,} inboxes per broadcast, {args.cases:,} open cases, a backlog of "
        f"{args.events:,} `driver.registered` events, {args.messages:,} raw Kafka messages, "
        f"{args.store_ops:,} raw store operations per baseline.",
        "",
        "What each ratio is measured against: the row's note names it; every baseline is a `raw` "
        "row of this same run (aiokafka or the store doing the same work bare, no service).",
        "",
        *([f"![Throughput and p99 per flow]({plot.name})", ""] if drawn else []),
        "| measurement | result | ratio / note |",
        "|---|---:|---|",
        *(f"| {name} | {value} | {note} |" for name, value, note in report.rows),
        marker,
    ]
    block = "\n".join(lines)
    text = path.read_text() if path.exists() else ""
    if marker in text:
        head, _, rest = text.partition(marker)
        _, _, tail = rest.partition(marker)
        text = head + block + tail
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text)
    print(f"results written to {path}" + (f" and {plot}" if drawn else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--kafka", default=os.environ.get("DRIVERHOME_TEST_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--mongo", default=os.environ.get("DRIVERHOME_TEST_MONGO_URL", "mongodb://127.0.0.1:27017")
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--store-ops", type=int, default=3000)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--write", default="docs/performance.md")
    # The district sizes of issue 19 (a district's ~30,000 drivers, a province many times that).
    parser.add_argument("--registry-drivers", type=int, default=100_000)
    parser.add_argument("--notify-drivers", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--sections",
        nargs="*",
        default=[
            s
            # The longest at the district sizes (registry, 100,000 drivers) last: a run stopped
            # by its time limit keeps the most sections.
            for s in ("footprint", "points", "stations", "notify", "cases", "partners", "registry")
            if _has_section(s)
        ],
        help="service benchmarks to run after the baselines and the first flow",
    )
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
