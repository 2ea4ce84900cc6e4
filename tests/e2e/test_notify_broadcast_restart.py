"""A broadcast whose notify process is killed half-way resumes after restart, without duplicates."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from common.events import new_event
from common.events.registry import DriverRegistered
from common.testing import Infra, ServiceProcess, read_topic, unique_name, wait_until

pytestmark = pytest.mark.e2e

DRIVERS = 30
BATCH = 5  # six batches: the failpoints sit at the fourth


@pytest.fixture
def env(infra: Infra, run_id: str) -> dict[str, str]:
    return {
        "DRIVERHOME_ENVIRONMENT": "test",
        "DRIVERHOME_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DRIVERHOME_MONGO_URL": infra.mongo_url,
        "DRIVERHOME_MONGO_DB": f"{run_id}_notify",
        "DRIVERHOME_TOPIC_PREFIX": f"{run_id}.",
        "DRIVERHOME_TOPIC_PARTITIONS": "3",
        "DRIVERHOME_OUTBOX_SWEEP_SECONDS": "0.5",
        "DRIVERHOME_CONSUMER_BACKOFF_MAX_SECONDS": "1",
        "DRIVERHOME_DISPATCH_INTERVAL_SECONDS": "0.2",
        "DRIVERHOME_BROADCAST_BATCH_SIZE": str(BATCH),
        "DRIVERHOME_BROADCAST_LEASE_SECONDS": "2",
    }


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(env: dict[str, str], name: str) -> ServiceProcess:
        process = ServiceProcess("notify", env, tmp_path / f"{name}.log")
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def register_drivers(infra: Infra, run_id: str) -> list[str]:
    drivers = [unique_name("drv_") for _ in range(DRIVERS)]
    producer = AIOKafkaProducer(**infra.client(), enable_idempotence=True)
    await producer.start()
    try:
        for driver in drivers:
            event = new_event(
                DriverRegistered(
                    driver_id=driver, channel="operator", registered_at=datetime.now(UTC)
                ),
                source="driverhome/registry",
                subject=driver,
            )
            await producer.send(f"{run_id}.registry.events", event.to_bytes(), key=driver.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return drivers


async def count(mongo: Any, run_id: str, collection: str, query: dict[str, Any]) -> int:
    return await mongo[f"{run_id}_notify"][collection].count_documents(query)


@pytest.mark.parametrize(
    "failpoint",
    [
        # ~14 s per kill and restart: make test kills mid fan-out (inboxes written, some
        # announced); make test-slow adds the kill while the segment is being resolved.
        pytest.param(
            "notify.broadcast.enqueued.3",
            id="killed-while-resolving-the-segment",
            marks=pytest.mark.slow,
        ),
        pytest.param("notify.broadcast.batch_written.3", id="killed-while-fanning-out-a-batch"),
    ],
)
async def test_a_broadcast_killed_half_way_resumes_after_restart_without_duplicates(
    env: dict[str, str],
    spawn: Callable[..., ServiceProcess],
    token: Callable[..., dict[str, str]],
    infra: Infra,
    mongo: Any,
    run_id: str,
    tmp_path: Path,
    failpoint: str,
) -> None:
    marker = tmp_path / "killed"
    faults = {"DRIVERHOME_FAULTS": json.dumps({failpoint: f"exit_once:{marker}"})}
    doomed = spawn({**env, **faults}, "doomed")
    await doomed.wait_ready()
    drivers = await register_drivers(infra, run_id)

    async def all_known() -> bool:
        return await count(mongo, run_id, "drivers", {}) == DRIVERS

    await wait_until(all_known, timeout=60)
    operator = token("operator")
    async with httpx.AsyncClient(base_url=doomed.url) as http:
        made = await http.post(
            "/v1/broadcasts",
            json={
                "category": "policy",
                "segment": {"kind": "everyone"},
                "content": {"zh-CN": {"title": "港区新规", "body": "集卡预约规则调整。"}},
            },
            headers=operator,
        )
    assert made.status_code == 201, made.text
    broadcast_id = made.json()["broadcast_id"]
    assert await doomed.wait_exit() == 97, "the process must die at the failpoint"
    of_broadcast = {"broadcast_id": broadcast_id}
    at_death = await mongo[f"{run_id}_notify"]["broadcasts"].find_one({"_id": broadcast_id})
    written = await count(mongo, run_id, "notifications", of_broadcast)
    batches_done = await count(mongo, run_id, "broadcast_batches", of_broadcast)
    assert at_death["status"] != "completed" and batches_done < DRIVERS // BATCH
    if "enqueued" in failpoint:
        # Four of six pages queued, the rest of the segment not even resolved yet.
        assert at_death["batches_enqueued"] == 4 and at_death["status"] == "resolving"
        assert written <= 4 * BATCH
    else:
        # The fourth batch's notifications were written but it was never marked done.
        killed_batch = {"_id": f"{broadcast_id}:3"}
        assert await count(mongo, run_id, "broadcast_batches", killed_batch) == 0
        assert written >= BATCH

    restarted = spawn({**env, **faults}, "restarted")
    await restarted.wait_ready()

    async def completed() -> Any:
        async with httpx.AsyncClient(base_url=restarted.url) as http:
            answer = (await http.get(f"/v1/broadcasts/{broadcast_id}", headers=operator)).json()
        return answer if answer["status"] == "completed" else None

    done = await wait_until(completed, timeout=90)
    progress = done["progress"]
    assert progress["targeted"] == DRIVERS
    assert progress["delivered"] == DRIVERS
    assert progress["batches_done"] == progress["batches_total"] == DRIVERS // BATCH
    db = mongo[f"{run_id}_notify"]
    docs = await db["notifications"].find(of_broadcast, {"driver_id": 1}).to_list()
    assert sorted(d["driver_id"] for d in docs) == sorted(drivers)

    pages = DRIVERS // BATCH
    records = await read_topic(
        infra.kafka_bootstrap, f"{run_id}.notify.events", min_records=DRIVERS + pages
    )
    events = [json.loads(r.value or b"") for r in records]
    # Announced once per page (notification.broadcast_delivered.v1), never per inbox.
    ids = {d["_id"] for d in docs}
    assert not [
        e
        for e in events
        if e["type"] == "notification.delivered.v1" and e["data"]["notification_id"] in ids
    ]
    page_events = [e for e in events if e["type"] == "notification.broadcast_delivered.v1"]
    announced = Counter(e["id"] for e in page_events)
    assert set(announced) == {f"{broadcast_id}:{n}.delivered" for n in range(pages)}
    if "batch_written" in failpoint:
        # Killed before its announcement went out: the restart announces the page once.
        assert announced[f"{broadcast_id}:3.delivered"] == 1
    # A page fanned out beside it (broadcast_pages_at_once) may have been caught between its
    # announcement and its done-marker: announced again, under the same id and naming the
    # same inboxes, which consumers dedupe. Deduped by id, each inbox is named exactly once.
    by_id: dict[str, list[Any]] = {}
    for e in page_events:
        by_id.setdefault(e["id"], []).append(e["data"]["deliveries"])
    assert all(all(d == copies[0] for d in copies) for copies in by_id.values())
    named = Counter(d["notification_id"] for copies in by_id.values() for d in copies[0])
    assert set(named) == ids and set(named.values()) == {1}
