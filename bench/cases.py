"""Cases: intake throughput and the breach scan over many open cases, against raw store work.

Intake: the service's open-case use case in-process (the case filed in the driver's dossier,
duplicate lookup by id, insert with the event in the outbox; publishing left to the relay)
against a bare ``insert_one`` of the same document, into a collection without indexes (before
and after the intakes; the ratio is to the mean of the two) and into one with the cases'
indexes; timed on an empty store and again with the open cases stored.
Scan: ``BreachScan.scan`` over ``cases`` open cases of which 1 % are past a deadline, against
a bare script doing the same reads and one conditional update per due case.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bench.cpu import CpuMeter, add_cpu_row, add_store_cpu_row, store_meter
from bench.report import Report, bracketed, rate
from cases import domain
from cases.app import INDEXES, build_calendar
from cases.intake import Intake
from cases.service import build_cases
from cases.settings import CasesSettings
from common.auth import Principal
from common.mongo import Indexes, ensure_indexes
from common.outbox import outbox_indexes

START = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def _case(i: int, calendar: Any, policy: domain.ClockPolicy, due_now: bool) -> dict[str, Any]:
    opened = START - timedelta(days=30) if due_now else START
    clocks = domain.intake_clocks(calendar, policy, opened, "complaint", False)
    doc = {
        "_id": f"C-{i}",
        "version": 1,
        "status": "in_progress",
        "driver_id": f"d{i % 5000}",
        "kind": "complaint",
        "category": "freight_payment",
        "round": 1,
        "offered_unit_ids": [],
        "unit_id": "U1",
        "lead_unit_id": "U1",
        "clocks": clocks,
        "announced": [],
        "opened_at": opened,
        "month": "2026-03",
        "outbox": [],
    }
    doc["next_check"] = domain.next_check(calendar, doc, START + timedelta(hours=1))
    return doc


async def run(
    kafka: str, mongo: str, report: Report, *, cases: int = 100_000, intake: int = 1000
) -> None:
    settings = CasesSettings(mongo_url=mongo, kafka_bootstrap=kafka)
    calendar = build_calendar(settings)
    policy = domain.ClockPolicy()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, w="majority", tz_aware=True)
    db = client[f"bench_cases_{uuid.uuid4().hex[:6]}"]
    try:
        # The cases' indexes and the outbox mark's, as the service's start-up makes them.
        await ensure_indexes(db, [*INDEXES, outbox_indexes("cases")])
        # The raw scan's collection gets the cases' own indexes: the bare work of the same
        # queries and pinned writes, found the same way.
        cases_indexes = next(spec for spec in INDEXES if spec.collection == "cases")
        await ensure_indexes(db, [Indexes("raw_scan", cases_indexes.models)])
        now = [START]
        service = build_cases(db, calendar, settings, clock=lambda: now[0])
        raw_docs = [_case(i, calendar, policy, False) for i in range(intake)]
        with CpuMeter() as bare_cpu, store_meter(mongo) as bare_store:
            before = await _raw_inserts(db["raw_cases"], raw_docs)
        # The same inserts into a collection with the cases' indexes: what the store alone costs
        # an intake, the outbox's mark included (the local store keeps and writes only the
        # unique ones).
        marks = outbox_indexes("cases").models
        await ensure_indexes(db, [Indexes("raw_indexed", [*cases_indexes.models, *marks])])
        indexed = await _raw_inserts(db["raw_indexed"], raw_docs)
        with CpuMeter() as intake_cpu, store_meter(mongo) as store_cpu:
            system = await _intake_rate(service, intake)
        # The bare inserts again after the intakes: the ratios are to the mean of the two.
        raw, drift = bracketed(before, await _raw_inserts(db["raw_cases_after"], raw_docs))
        report.add("raw store: insert_one of a case document", f"{raw:,.0f} cases/s", drift)
        report.add(
            "raw store: the same insert_one, collection with the cases' indexes",
            f"{indexed:,.0f} cases/s",
            f"ratio {indexed / raw:.2f} of raw insert_one",
        )
        report.add(
            "cases: open a case (duplicate lookup, insert + outbox, dossier)",
            f"{system:,.0f} cases/s",
            f"ratio {system / raw:.2f} of raw insert_one, {system / indexed:.2f} of the indexed",
        )
        add_cpu_row(
            report,
            "cases: CPU per intake, in-process",
            service=(intake_cpu, intake),
            bare=(bare_cpu, intake),
        )
        add_store_cpu_row(
            report,
            "store: CPU per intake",
            service=(store_cpu, intake),
            bare=(bare_store, intake),
        )

        await db["cases"].delete_many({})
        due = max(1, cases // 100)
        batch: list[dict[str, Any]] = []
        for i in range(cases):
            batch.append(_case(i, calendar, policy, i < due))
            if len(batch) == 5000:
                await db["cases"].insert_many(batch)
                await db["raw_scan"].insert_many(batch)
                batch = []
        if batch:
            await db["cases"].insert_many(batch)
            await db["raw_scan"].insert_many(batch)
        now[0] = START + timedelta(hours=1)
        started = time.perf_counter()
        async for doc in db["raw_scan"].find({"next_check": {"$lte": now[0]}}).limit(cases):
            await db["raw_scan"].update_one(
                {"_id": doc["_id"], "version": doc["version"], "next_check": doc["next_check"]},
                {"$push": {"announced": "x", "outbox": {"id": doc["_id"]}}},
            )
        raw_scan = time.perf_counter() - started
        started = time.perf_counter()
        announced = await service.breach_scan.scan(limit=cases)
        scan = time.perf_counter() - started
        # Intake again with the district's open cases stored: the duplicate lookup must not
        # grow with them (it reads the driver's cases by id, from the dossier).
        loaded = await _intake_rate(service, intake, first=intake)
        report.add(
            f"cases: open a case with {cases:,} open cases stored",
            f"{loaded:,.0f} cases/s",
            f"ratio {loaded / raw:.2f} of raw insert_one, {loaded / indexed:.2f} of the indexed",
        )
        report.add(
            f"raw store: scan {cases:,} open cases, update the {due:,} due",
            f"{raw_scan * 1000:,.0f} ms",
        )
        report.add(
            f"cases: breach scan over {cases:,} open cases ({announced:,} announcements)",
            f"{scan * 1000:,.0f} ms",
            f"ratio {raw_scan / scan:.2f} of the raw scan's speed",
        )
    finally:
        await client.drop_database(db.name)
        await client.close()


async def _raw_inserts(collection: Any, docs: list[dict[str, Any]]) -> float:
    """Documents per second of a bare ``insert_one`` each, one after another."""
    started = time.perf_counter()
    for doc in docs:
        await collection.insert_one(doc)
    return rate(len(docs), time.perf_counter() - started)


async def _intake_rate(service: Any, count: int, *, first: int = 0) -> float:
    """Cases opened per second through the intake use case, one after another, for 500 drivers
    (so most intakes find earlier cases of the same driver to sift)."""
    station = Principal(sub="bench", role="station", station_id="S1")
    started = time.perf_counter()
    for i in range(first, first + count):
        await service.intake.open_case(
            station,
            Intake(
                kind="complaint",
                category="parking_rest",
                channel="station",
                description="bench",
                driver_id=f"b{i % 500}",
            ),
        )
    return rate(count, time.perf_counter() - started)
