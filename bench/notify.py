"""Notify benchmark: a broadcast to N drivers' inboxes (100,000 by default), as a ratio.

N driver facts are bulk-loaded into notify's database, then notify runs as a separate process
and an operator broadcast to everyone is timed from the POST until its document says completed
(every inbox notification stored and announced; watched by ``_id`` every 0.25 s, the API's
progress read once at the end). Both announcement designs run, each on a fresh database
(``broadcast_announcements``, docs/notify.md): ``page`` (one
``notification.broadcast_delivered.v1`` per page of 500, the default) and ``driver`` (one
``notification.delivered.v1`` per inbox, the earlier contract). The raw baseline, measured in
the same run before and after both broadcasts (the ratios are to the mean of the two), is the
store's bulk insert of N inbox-sized documents in batches of the same size, into a collection
without indexes: the least any fan-out has to do. For context the same
run also inserts the same number of notify's own documents into notify's indexed collection
(its indexes; the local store keeps only the unique ones), with nothing else: what the store
alone costs a fan-out. And since a notification carries its whole state (about 30 fields:
holds, lease, history, read and archive marks) where the raw baseline's document has 8, the run
ends with the raw bulk insert of N copies of a document the fan-out stored (new ids), into a
collection without indexes: the same store work for the documents the fan-out writes.

After the page design's broadcast, while its inboxes are stored, a driver's inbox is read
(``GET /v1/drivers/{id}/inbox``, the first page of 20 and the unread count, as the drivers' app
opens it) for ``INBOX_READS`` drivers picked at random, against the same two queries sent bare:
what the drivers' most frequent read costs with a district broadcast stored. On the local store
both read every notification (it keeps no non-unique index); on MongoDB the ``inbox_newest``
index serves them.

``python -m bench.notify --notify-drivers 5000`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from pymongo import AsyncMongoClient

from bench.cpu import CpuMeter, add_cpu_row, add_store_cpu_row, store_meter
from bench.report import bracketed, pct
from common.auth import issue_token
from common.mongo import ensure_indexes
from common.settings import ServiceSettings
from common.testing import ServiceProcess
from notify.store.notifications import INDEXES as NOTIFICATION_INDEXES
from notify.store.notifications import NotificationStore

DRIVERS_DEFAULT = 100_000
INBOX_READS = 100
BATCH = 500  # notify's default broadcast batch size
FLEETS = 400


class Report(Protocol):
    def add(self, name: str, value: str, note: str = "") -> None: ...


class _Print:
    def add(self, name: str, value: str, note: str = "") -> None:
        print(f"  {name:<58} {value:>14}  {note}", flush=True)


def _inbox_doc(i: int, now: datetime) -> dict[str, Any]:
    return {
        "_id": f"n{i:07d}",
        "driver_id": f"drv_{i:07d}",
        "channel": "inbox",
        "category": "policy",
        "title": "港区新规",
        "body": "集卡预约规则调整,请留意。" * 3,
        "status": "delivered",
        "created_at": now,
    }


async def raw_bulk_insert(db: Any, count: int) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        await db["raw_inbox"].insert_many(
            [_inbox_doc(i, now) for i in range(start, min(count, start + BATCH))], ordered=False
        )
    return count / (time.perf_counter() - started)


async def raw_bulk_insert_of(db: Any, count: int, sample: dict[str, Any]) -> float:
    """N copies of one stored document, with their own ids and drivers, as ``raw_bulk_insert``."""
    if not sample:
        # Copies of nothing would time a near-empty insert under this baseline's name.
        raise RuntimeError("no stored broadcast notification to copy")
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        await db["raw_own"].insert_many(
            [
                {**sample, "_id": f"n{i:07d}", "driver_id": f"drv_{i:07d}"}
                for i in range(start, min(count, start + BATCH))
            ],
            ordered=False,
        )
    return count / (time.perf_counter() - started)


async def load_drivers(db: Any, count: int) -> None:
    for start in range(0, count, 5_000):
        await db["drivers"].insert_many(
            [
                {"_id": f"drv_{i:07d}", "active": True, "fleet": f"fleet-{i % FLEETS}"}
                for i in range(start, min(count, start + 5_000))
            ],
            ordered=False,
        )


async def indexed_bulk_insert(db: Any, count: int) -> float:
    """The same documents into notify's indexed collection, in pages of the same size."""
    await ensure_indexes(db, NOTIFICATION_INDEXES)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        await db["notifications"].insert_many(
            [
                {**_inbox_doc(i, now), "source": "bench", "source_id": "b", "channel_key": "inbox"}
                for i in range(start, min(count, start + BATCH))
            ],
            ordered=False,
        )
    return count / (time.perf_counter() - started)


async def run(kafka: str, mongo: str, report: Report, drivers: int = DRIVERS_DEFAULT) -> None:
    run_id = f"bn{uuid.uuid4().hex[:8]}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, w="majority")
    try:
        with CpuMeter() as bare_cpu, store_meter(mongo) as bare_store:
            before = await raw_bulk_insert(client[f"{run_id}_raw"], drivers)
        indexed = await indexed_bulk_insert(client[f"{run_id}_indexed"], drivers)
    finally:
        for name in ("raw", "indexed"):
            await client.drop_database(f"{run_id}_{name}")
    sample: dict[str, Any] = {}
    reads: dict[str, list[float]] = {}
    try:
        runs = [
            (
                announcements,
                await broadcast(
                    kafka,
                    mongo,
                    client,
                    f"{run_id}{announcements[0]}",
                    drivers=drivers,
                    announcements=announcements,
                    sample=sample,
                    reads=reads if announcements == "page" else None,
                ),
            )
            for announcements in ("driver", "page")
        ]
        # The raw insert again after both broadcasts: the ratios are to the mean of the two.
        raw, drift = bracketed(before, await raw_bulk_insert(client[f"{run_id}_after"], drivers))
        report.add(f"raw: store bulk insert, {drivers:,} inbox docs", f"{raw:,.0f}/s", drift)
        report.add(
            "raw: the same count into notify's indexed collection",
            f"{indexed:,.0f}/s",
            f"{indexed / raw:.2f}x raw bulk insert: the store's share alone",
        )
        for announcements, (seconds, delivered, notify_cpu, store_cpu) in runs:
            system = delivered / seconds
            design = (
                "one broadcast_delivered per page of 500"
                if announcements == "page"
                else "one notification.delivered per inbox"
            )
            report.add(
                f"notify: broadcast to {drivers:,} inboxes, {design}",
                f"{seconds:,.1f} s",
                f"{delivered:,} delivered",
            )
            report.add(
                f"notify: broadcast deliveries per second ({announcements} announcements)",
                f"{system:,.0f}/s",
                f"ratio {system / raw:.2f} of raw bulk insert",
            )
            add_cpu_row(
                report,
                f"notify: CPU per inbox, notify process ({announcements} announcements)",
                service=(notify_cpu, delivered),
                bare=(bare_cpu, drivers),
            )
            add_store_cpu_row(
                report,
                f"store: CPU per inbox ({announcements} announcements)",
                service=(store_cpu, delivered),
                bare=(bare_store, drivers),
            )
        add_read_rows(report, reads, drivers)
        with CpuMeter() as own_cpu:
            own = await raw_bulk_insert_of(client[f"{run_id}_own"], drivers, sample)
        report.add(
            f"raw: store bulk insert, {drivers:,} copies of a stored broadcast notification",
            f"{own:,.0f}/s",
            f"{own / raw:.2f}x raw bulk insert; the page design's broadcast is "
            f"{system / own:.2f} of it",
        )
        add_cpu_row(
            report,
            "notify: CPU per inbox (page announcements) against the copies' insert",
            service=(notify_cpu, delivered),
            bare=(own_cpu, drivers),
        )
    finally:
        for name in ("after", "own"):
            await client.drop_database(f"{run_id}_{name}")
        await client.close()


async def broadcast(
    kafka: str,
    mongo: str,
    client: AsyncMongoClient[dict[str, Any]],
    run_id: str,
    *,
    drivers: int,
    announcements: str,
    sample: dict[str, Any],
    reads: dict[str, list[float]] | None = None,
) -> tuple[float, int, CpuMeter, CpuMeter]:
    """One broadcast to every driver on a fresh database: its seconds, the inboxes delivered
    and the notify process's and the store's CPU meanwhile; ``sample`` gets one inbox
    notification the fan-out stored; ``reads``, if given, the inbox reads' latencies after it
    (``inbox_reads``)."""
    db_name = f"{run_id}_notify"
    logs = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    process = ServiceProcess(
        "notify",
        {
            "DRIVERHOME_ENVIRONMENT": "test",
            "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
            "DRIVERHOME_KAFKA_BOOTSTRAP": kafka,
            "DRIVERHOME_MONGO_URL": mongo,
            "DRIVERHOME_MONGO_DB": db_name,
            "DRIVERHOME_TOPIC_PREFIX": f"{run_id}.",
            "DRIVERHOME_LOG_LEVEL": "WARNING",
            "DRIVERHOME_DISPATCH_INTERVAL_SECONDS": "0.2",
            "DRIVERHOME_OUTBOX_SWEEP_SECONDS": os.environ.get("BENCH_SWEEP", "2"),
            "DRIVERHOME_BROADCAST_ANNOUNCEMENTS": announcements,
        },
        logs / "notify.log",
    )
    try:
        await load_drivers(client[db_name], drivers)
        process.start()
        await process.wait_ready(timeout=120)
        headers = {
            "Authorization": "Bearer "
            + issue_token(ServiceSettings(), role="operator", sub="bench")
        }
        async with httpx.AsyncClient(base_url=process.url, timeout=60) as http:
            # Untimed, to one fleet (1/400 of the drivers): the store's and the process's first
            # broadcast is slower than any after it, and each design gets a fresh pair.
            await _broadcast(http, headers, {"kind": "fleet", "value": "fleet-0"}, client[db_name])
            stored = await client[db_name]["notifications"].find_one({"channel": "inbox"})
            sample.update(stored or {})
            assert process.process is not None
            with CpuMeter(process.process.pid) as notify_cpu, store_meter(mongo) as store_cpu:
                started = time.perf_counter()
                broadcast_id = await _broadcast(
                    http, headers, {"kind": "everyone"}, client[db_name]
                )
                seconds = time.perf_counter() - started
            answer = (await http.get(f"/v1/broadcasts/{broadcast_id}", headers=headers)).json()
            if reads is not None:
                reads.update(await inbox_reads(http, client[db_name], drivers, INBOX_READS))
        return seconds, int(answer["progress"]["delivered"]), notify_cpu, store_cpu
    finally:
        process.stop()
        await client.drop_database(db_name)


async def inbox_reads(
    http: httpx.AsyncClient, db: Any, drivers: int, count: int
) -> dict[str, list[float]]:
    """Milliseconds of ``count`` inbox reads by the drivers' app (first page, unread count) and
    of the same two queries sent bare, taking turns, for drivers picked at random."""
    store = NotificationStore(db)
    picked = random.Random(7).sample(range(drivers), min(count, drivers))
    served: list[float] = []
    bare: list[float] = []
    for i in picked:
        driver_id = f"drv_{i:07d}"
        token = issue_token(ServiceSettings(), role="driver", driver_id=driver_id, sub=driver_id)
        started = time.perf_counter()
        answer = await http.get(
            f"/v1/drivers/{driver_id}/inbox",
            params={"limit": 20},
            headers={"Authorization": f"Bearer {token}"},
        )
        served.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        if not answer.json()["items"]:  # the broadcast's item at least
            raise RuntimeError(f"inbox of {driver_id}: empty after the broadcast")
        started = time.perf_counter()
        await store.inbox(driver_id, after=None, limit=21, unread_only=False, archived=False)
        await store.unread_count(driver_id)
        bare.append((time.perf_counter() - started) * 1000)
    return {"served": served, "bare": bare}


def add_read_rows(report: Report, reads: dict[str, list[float]], drivers: int) -> None:
    served, bare = reads.get("served"), reads.get("bare")
    if not served or not bare:
        return
    where = f"{drivers:,} inboxes stored"
    for p in (50, 99):
        report.add(
            f"notify: a driver's inbox read, {where}: p{p}",
            f"{pct(served, p):,.1f} ms",
            f"ratio {pct(served, p) / pct(bare, p):.2f} of the bare queries ({pct(bare, p):,.1f} "
            f"ms); {len(served)} reads",
        )


async def _broadcast(
    http: httpx.AsyncClient, headers: dict[str, str], segment: dict[str, str], db: Any
) -> str:
    """Make a broadcast and wait until it is completed; its id."""
    made = await http.post(
        "/v1/broadcasts",
        json={
            "category": "policy",
            "segment": segment,
            "content": {"zh-CN": {"title": "港区新规", "body": "集卡预约规则调整。"}},
        },
        headers=headers,
    )
    made.raise_for_status()
    broadcast_id: str = made.json()["broadcast_id"]
    # Watched by its _id in the store: the API's progress counts every notification of the
    # broadcast, a scan that grows with the fan-out and would compete with it. Bounded: far
    # slower than the slowest fan-out seen (about 100 inboxes a second on a loaded machine).
    deadline = time.monotonic() + 120 + await db["drivers"].estimated_document_count() / 50
    while time.monotonic() < deadline:
        doc = await db["broadcasts"].find_one({"_id": broadcast_id}, {"status": 1})
        if doc is not None and doc["status"] == "completed":
            return broadcast_id
        await asyncio.sleep(0.25)
    raise TimeoutError(f"broadcast {broadcast_id} not completed in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--kafka", default=os.environ.get("DRIVERHOME_TEST_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--mongo", default=os.environ.get("DRIVERHOME_TEST_MONGO_URL", "mongodb://127.0.0.1:27017")
    )
    parser.add_argument("--notify-drivers", type=int, default=DRIVERS_DEFAULT)
    args = parser.parse_args()
    print(f"notify broadcast benchmark ({sys.platform})", flush=True)
    asyncio.run(run(args.kafka, args.mongo, _Print(), args.notify_drivers))


if __name__ == "__main__":
    main()
