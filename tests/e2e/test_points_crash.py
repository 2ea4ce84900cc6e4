"""Points killed at each step of posting an award: after restart the award counts once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.events import new_event, parse_envelope
from common.events.partner import TrainingCompleted
from common.events.registry import DriverRegistered
from common.testing import Infra, ServiceProcess, read_topic, unique_name, wait_until
from tests.support import produce

pytestmark = pytest.mark.e2e


@pytest.fixture
def spawn_points(
    infra: Infra, run_id: str, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(**extra: str) -> ServiceProcess:
        process = ServiceProcess(
            "points",
            {
                "DRIVERHOME_ENVIRONMENT": "test",
                "DRIVERHOME_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
                "DRIVERHOME_MONGO_URL": infra.mongo_url,
                "DRIVERHOME_TOPIC_PREFIX": f"{run_id}.",
                "DRIVERHOME_TOPIC_PARTITIONS": "2",
                "DRIVERHOME_MONGO_DB": f"{run_id}_points",
                "DRIVERHOME_SWEEP_SECONDS": "1",
                "DRIVERHOME_CONSUMER_BACKOFF_MAX_SECONDS": "1",
                **extra,
            },
            tmp_path / f"points-{len(started)}.log",
        )
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.mark.parametrize(
    "failpoint",
    [
        "points.ledger.after_insert",
        # Each kill costs a process restart (~14 s): make test kills after the entry is written
        # and before it is announced; make test-slow adds the other two steps.
        pytest.param("points.ledger.after_apply", marks=pytest.mark.slow),
        "points.ledger.before_publish",
        pytest.param("points.ledger.before_settle", marks=pytest.mark.slow),
    ],
)
async def test_points_killed_while_posting_an_award_counts_it_once_after_restart(
    spawn_points: Callable[..., ServiceProcess],
    infra: Infra,
    run_id: str,
    mongo: Any,
    tmp_path: Path,
    failpoint: str,
) -> None:
    driver = unique_name("drv_")
    faults = json.dumps({failpoint: f"exit_once:{tmp_path / 'fired'}"})
    doomed = spawn_points(DRIVERHOME_FAULTS=faults)
    await doomed.wait_ready()
    registered = new_event(
        DriverRegistered(driver_id=driver, channel="operator", registered_at=datetime.now(UTC)),
        source="driverhome/registry",
        subject=driver,
    )
    training = new_event(
        TrainingCompleted(
            driver_id=driver, course_id="C-7", hours=4, completed_at=datetime.now(UTC)
        ),
        source="partner/training-centre",
        subject=driver,
    )
    await produce(
        infra.kafka_bootstrap,
        f"{run_id}.registry.events",
        registered.to_bytes(),
        key=driver.encode(),
    )
    db = mongo[f"{run_id}_points"]
    await wait_until(lambda: db["accounts"].find_one({"_id": driver}))
    await produce(
        infra.kafka_bootstrap,
        f"{run_id}.partner.training-centre.events",
        training.to_bytes(),
        key=driver.encode(),
    )
    assert await doomed.wait_exit() == 97, doomed.log_tail()

    restarted = spawn_points(DRIVERHOME_FAULTS=faults)
    await restarted.wait_ready()

    async def settled() -> bool:
        account = await db["accounts"].find_one({"_id": driver})
        entry = await db["ledger"].find_one({"driver_id": driver})
        return bool(
            account
            and entry
            and entry["state"] == "applied"
            and entry["published"]
            and not account["pending"]
        )

    await wait_until(settled, timeout=60)
    account = await db["accounts"].find_one({"_id": driver})
    assert account["balance"] == 30  # 10 + 5 per hour for 4 hours
    assert await db["ledger"].count_documents({"driver_id": driver}) == 1
    announced = [
        parse_envelope(r.value)
        for r in await read_topic(infra.kafka_bootstrap, f"{run_id}.points.events")
    ]
    # At least once: a crash after publishing may announce twice, always with the same id.
    ids = {e.id for e in announced}
    assert len(ids) == 1
    assert next(iter(ids)).startswith(f"{driver}:award:")
    assert {e.type for e in announced} == {"points.awarded.v1"}
