"""The dispatcher's due scans are paced by their own duration (issue 19): on the local store a
scan over a district's notifications takes seconds and must not run back to back."""

from __future__ import annotations

from notify.dispatcher import Paced


async def test_a_slow_scan_waits_its_duration_over_its_share_before_running_again() -> None:
    now = [100.0]
    runs: list[float] = []

    async def scan() -> int:
        runs.append(now[0])
        now[0] += 2.0  # the scan takes 2 s
        return 1

    paced = Paced(scan, share=0.25, clock=lambda: now[0])  # so 8 s from its start
    assert await paced() == 1
    assert await paced() == 0, "too soon: skipped without touching the store"
    now[0] = 107.9
    assert await paced() == 0
    now[0] = 108.0
    assert await paced() == 1
    assert runs == [100.0, 108.0]


async def test_a_scan_of_milliseconds_runs_again_in_the_next_round() -> None:
    now = [0.0]

    async def scan() -> int:
        now[0] += 0.005
        return 3

    paced = Paced(scan, share=0.1, clock=lambda: now[0])
    assert await paced() == 3
    now[0] += 1.0  # the dispatcher's next round
    assert await paced() == 3
