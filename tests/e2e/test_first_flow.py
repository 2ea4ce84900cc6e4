"""The first flow across two services running as separate processes on real Kafka."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.testing import (
    Infra,
    ServiceProcess,
    read_topic,
    synthetic_national_id,
    synthetic_phone,
    wait_until,
)

pytestmark = pytest.mark.e2e

# Generated per run (valid check digit): no fixed real-looking numbers in the test code.
NATIONAL_ID = synthetic_national_id()
PHONE = synthetic_phone()


@pytest.fixture
def env(infra: Infra, run_id: str) -> dict[str, str]:
    return {
        "DRIVERHOME_ENVIRONMENT": "test",
        "DRIVERHOME_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DRIVERHOME_MONGO_URL": infra.mongo_url,
        "DRIVERHOME_TOPIC_PREFIX": f"{run_id}.",
        "DRIVERHOME_TOPIC_PARTITIONS": "2",
        "DRIVERHOME_OUTBOX_SWEEP_SECONDS": "0.5",
        "DRIVERHOME_CONSUMER_BACKOFF_MAX_SECONDS": "1",
    }


@pytest.fixture
def spawn(tmp_path: Path, run_id: str) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(name: str, env: dict[str, str], **extra: str) -> ServiceProcess:
        process = ServiceProcess(
            name,
            {**env, "DRIVERHOME_MONGO_DB": f"{run_id}_{name}", **extra},
            tmp_path / f"{name}.log",
        )
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def driver_body() -> dict[str, str]:
    return {
        "name": "李海平",
        "phone": PHONE,
        "national_id": NATIONAL_ID,
        "plate": "浙B6M789",
        "fleet": "宁波港集卡车队",
    }


async def register(registry: ServiceProcess, token: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=registry.url) as http:
        answer = await http.post("/v1/drivers", json=driver_body(), headers=token)
    assert answer.status_code == 201, answer.text
    driver_id: str = answer.json()["driver_id"]
    return driver_id


async def account(points: ServiceProcess, driver_id: str, token: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=points.url) as http:
        answer = await http.get(f"/v1/accounts/{driver_id}", headers=token)
    return answer.json() if answer.status_code == 200 else None


async def test_a_driver_registered_over_http_becomes_an_account_in_points(
    env: dict[str, str],
    spawn: Callable[..., ServiceProcess],
    token: Callable[..., dict[str, str]],
    infra: Infra,
    run_id: str,
) -> None:
    registry = spawn("registry", env)
    points = spawn("points", env)
    await registry.wait_ready()
    await points.wait_ready()

    driver_id = await register(registry, token("operator"))
    opened = await wait_until(lambda: account(points, driver_id, token("operator")))
    assert opened["balance"] == 0
    assert opened["grade"] == "A"
    own = await account(points, driver_id, token("driver", driver_id=driver_id))
    assert own is not None and own["driver_id"] == driver_id

    # Privacy: neither the events nor either service's log carries the full numbers.
    records = await read_topic(infra.kafka_bootstrap, f"{run_id}.registry.events")
    registry.stop()
    points.stop()
    for blob in [r.value for r in records] + [p.log_path.read_bytes() for p in (registry, points)]:
        assert NATIONAL_ID.encode() not in blob
        assert PHONE.encode() not in blob
    assert b"registry.events" in points.log_path.read_bytes() or records


@pytest.mark.parametrize(
    "failpoint",
    [
        # A kill costs a process restart (~14 s): make test keeps the harder case (the account
        # opened, the offset not committed); make test-slow adds the kill before the effect.
        pytest.param("points.on_driver_registered.before_effect", marks=pytest.mark.slow),
        "points.on_driver_registered.before_commit",
    ],
)
async def test_points_killed_mid_event_opens_the_account_exactly_once_after_restart(
    env: dict[str, str],
    spawn: Callable[..., ServiceProcess],
    token: Callable[..., dict[str, str]],
    mongo: Any,
    run_id: str,
    tmp_path: Path,
    failpoint: str,
) -> None:
    marker = tmp_path / "killed"
    faults = json.dumps({failpoint: f"exit_once:{marker}"})
    registry = spawn("registry", env)
    doomed = spawn("points", env, DRIVERHOME_FAULTS=faults)
    await registry.wait_ready()
    await doomed.wait_ready()

    driver_id = await register(registry, token())
    assert await doomed.wait_exit() == 97, "the process must die at the failpoint"
    assert marker.exists()

    restarted = spawn("points", env, DRIVERHOME_FAULTS=faults)
    await restarted.wait_ready()
    opened = await wait_until(lambda: account(restarted, driver_id, token()), timeout=60)
    assert opened["balance"] == 0
    db = mongo[f"{run_id}_points"]
    assert await db["accounts"].count_documents({"_id": driver_id}) == 1
    assert await db["processed_events"].count_documents({"subject": driver_id}) == 1
