"""A singleton job under a store lease: one replica runs it per round, another takes over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from common.clock import ManualClock
from common.lease import StoreLease
from common.periodic import Periodic
from common.testing import wait_until

START = datetime(2026, 12, 3, 12, tzinfo=UTC)
TTL = timedelta(seconds=30)


class Replica:
    """One instance of a service: its own lease holder and a log of the rounds it ran."""

    def __init__(self, db: Any, name: str, clock: ManualClock, every: float = 3600) -> None:
        self.ran = 0
        self.lease = StoreLease(db, "expiry", name, ttl=TTL, clock=clock)
        self.job = Periodic(f"{name}-expiry", every, self.step, lease=self.lease)

    async def step(self) -> None:
        self.ran += 1


async def test_two_replicas_never_both_run_a_round_and_the_other_takes_over_on_stop(
    mongo: Any, run_id: str
) -> None:
    clock = ManualClock(START)
    a, b = (Replica(mongo[f"{run_id}_lease"], n, clock) for n in ("a", "b"))
    for _ in range(5):
        ran = await asyncio.gather(a.job.run_once(), b.job.run_once())
        assert sorted(ran) == [False, True]
        clock.advance(timedelta(seconds=10))  # each round renews the lease for the holder
    first, second = (a, b) if a.ran else (b, a)
    assert (first.ran, second.ran) == (5, 0)

    await first.job.stop()  # releases: the other need not wait for the ttl
    assert await second.job.run_once()
    assert not await first.job.run_once()  # the new holder keeps it
    assert (first.ran, second.ran) == (5, 1)


async def test_a_holder_that_died_loses_the_lease_once_the_ttl_has_passed(
    mongo: Any, run_id: str
) -> None:
    clock = ManualClock(START)
    a, b = (Replica(mongo[f"{run_id}_lease"], n, clock) for n in ("a", "b"))
    assert await a.job.run_once()
    # a dies without releasing: b stays out until the lease lapses
    clock.advance(TTL - timedelta(seconds=1))
    assert not await b.job.run_once()
    clock.advance(timedelta(seconds=2))
    assert await b.job.run_once()
    assert await b.lease.holder_now() == "b"
    assert not await a.job.run_once()  # a back from a pause finds b in charge
    assert (a.ran, b.ran) == (1, 1)


async def test_running_loops_take_turns_by_the_lease_and_survive_failing_steps(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_lease"]
    running: list[str] = []
    rounds: list[str] = []
    overlaps: list[list[str]] = []

    def replica(name: str) -> Periodic:
        async def step() -> None:
            running.append(name)
            if len(running) > 1:
                overlaps.append(list(running))
            await asyncio.sleep(0.01)
            running.remove(name)
            rounds.append(name)
            raise RuntimeError("store away")

        lease = StoreLease(db, "grades", name, ttl=timedelta(seconds=5))
        return Periodic(f"{name}-grades", 0.02, step, lease=lease)

    async def rounds_by(names: set[str], at_least: int) -> bool:
        return sum(r in names for r in rounds) >= at_least

    jobs = {n: replica(n) for n in ("a", "b", "c")}
    for job in jobs.values():
        job.start()
    try:
        await wait_until(lambda: rounds_by({"a", "b", "c"}, 10), timeout=10, interval=0.02)
        holder = rounds[0]
        assert set(rounds) == {holder}  # the failing step kept its loop and its lease
        await jobs.pop(holder).stop()
        await wait_until(lambda: rounds_by(set(jobs), 5), timeout=10, interval=0.02)
    finally:
        for job in jobs.values():
            await job.stop()
    assert overlaps == []
