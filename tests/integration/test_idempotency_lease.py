"""Idempotency-Key leases on the real store: a key whose request died is taken over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.problems import Problem
from common.requests import IdempotentRequests, _fingerprint
from common.testing import Infra, wait_until

BODY = {"driver_id": "drv_1", "station_id": "st_1"}


class Action:
    def __init__(self, seconds: float = 0.0) -> None:
        self.calls = 0
        self.seconds = seconds

    async def __call__(self) -> tuple[int, Any]:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        return 201, {"checkin_id": "ci_1"}


@pytest.fixture
async def keys(mongo: Any, run_id: str) -> Any:
    db = mongo[f"{run_id}_lease"]
    yield db["idempotency_keys"]
    await mongo.drop_database(db.name)


async def a_request_died_holding(keys: Any, key: str, *, lease_until: datetime | None) -> None:
    """What a process killed mid-request leaves: a running record nobody renews."""
    record = {
        "_id": f"desk\x1f{key}",
        "fingerprint": _fingerprint(BODY),
        "state": "running",
        "owner": "dead",
        "created_at": datetime.now(UTC) - timedelta(minutes=5),
    }
    if lease_until is not None:
        record["lease_until"] = lease_until
    await keys.insert_one(record)


async def test_a_retry_after_the_lease_of_a_dead_request_runs_it_and_stores_the_answer(
    keys: Any,
) -> None:
    await a_request_died_holding(keys, "k1", lease_until=datetime.now(UTC) - timedelta(seconds=1))
    action = Action()
    requests = IdempotentRequests(keys, lease_seconds=30)
    answer = await requests.run(caller="desk", key="k1", body=BODY, action=action)
    assert answer == (201, {"checkin_id": "ci_1"})
    assert action.calls == 1
    again = await requests.run(caller="desk", key="k1", body=BODY, action=action)
    assert again == answer and action.calls == 1
    stored = await keys.find_one({"_id": "desk\x1fk1"})
    assert stored["state"] == "done"


async def test_a_retry_during_the_lease_answers_409_and_runs_nothing(keys: Any) -> None:
    await a_request_died_holding(keys, "k2", lease_until=datetime.now(UTC) + timedelta(seconds=30))
    action = Action()
    with pytest.raises(Problem) as caught:
        await IdempotentRequests(keys).run(caller="desk", key="k2", body=BODY, action=action)
    assert caught.value.status == 409
    assert action.calls == 0


async def test_a_record_from_before_leases_is_taken_over_once_older_than_the_lease(
    keys: Any,
) -> None:
    await a_request_died_holding(keys, "k3", lease_until=None)
    action = Action()
    answer = await IdempotentRequests(keys, lease_seconds=30).run(
        caller="desk", key="k3", body=BODY, action=action
    )
    assert answer[0] == 201 and action.calls == 1


async def test_concurrent_retries_after_the_lease_run_the_request_once(keys: Any) -> None:
    await a_request_died_holding(keys, "k4", lease_until=datetime.now(UTC) - timedelta(seconds=1))
    action = Action(seconds=0.5)
    requests = IdempotentRequests(keys, lease_seconds=30)
    outcomes = await asyncio.gather(
        *(requests.run(caller="desk", key="k4", body=BODY, action=action) for _ in range(6)),
        return_exceptions=True,
    )
    assert action.calls == 1
    assert sorted(o[0] if isinstance(o, tuple) else o.status for o in outcomes) == [  # type: ignore[union-attr]
        201,
        409,
        409,
        409,
        409,
        409,
    ]


async def test_a_slow_live_request_renews_its_lease_and_is_not_taken_over(keys: Any) -> None:
    requests = IdempotentRequests(keys, lease_seconds=0.6)
    slow = Action(seconds=2.0)
    first = asyncio.create_task(requests.run(caller="desk", key="k5", body=BODY, action=slow))
    await asyncio.sleep(1.2)  # twice the lease: only renewal keeps the key
    retry = Action()
    with pytest.raises(Problem) as caught:
        await requests.run(caller="desk", key="k5", body=BODY, action=retry)
    assert caught.value.status == 409 and retry.calls == 0
    assert (await first)[0] == 201 and slow.calls == 1


async def test_a_request_whose_process_is_killed_is_retried_after_the_lease(
    infra: Infra, keys: Any, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    script = tmp_path / "request.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from pathlib import Path
            from pymongo import AsyncMongoClient
            from common.requests import IdempotentRequests

            async def hang():
                Path({str(started)!r}).write_text("yes")
                await asyncio.sleep(3600)

            async def main():
                client = AsyncMongoClient({infra.mongo_url!r}, tz_aware=True)
                keys = client[{keys.database.name!r}]["idempotency_keys"]
                await IdempotentRequests(keys, lease_seconds=1.5).run(
                    caller="desk", key="k6", body={BODY!r}, action=hang
                )

            asyncio.run(main())
            """
        )
    )
    process = await asyncio.create_subprocess_exec(sys.executable, str(script))

    async def request_started() -> bool:
        return started.exists()

    try:
        await wait_until(request_started, timeout=30)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    requests = IdempotentRequests(keys, lease_seconds=1.5)
    action = Action()
    with pytest.raises(Problem) as caught:
        await requests.run(caller="desk", key="k6", body=BODY, action=action)
    assert caught.value.status == 409, "within the lease the key is still held"
    await asyncio.sleep(1.6)
    assert await requests.run(caller="desk", key="k6", body=BODY, action=action) == (
        201,
        {"checkin_id": "ci_1"},
    )
    assert action.calls == 1
