"""``common.batch_end``: the batch a record runs in, shared by the lanes it starts, and gone
once the batch's steps are being sent."""

from __future__ import annotations

import asyncio

from common import batch_end


class Steps:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.sent: list[list[str]] = []

    async def flush(self) -> None:
        self.sent.append(self.items)
        self.items = []


async def test_lanes_share_their_batch_and_its_steps_are_sent_once_at_its_end() -> None:
    assert batch_end.current() is None, "outside a batch: steps are done at once"
    owner = object()
    with batch_end.collecting() as end:

        async def lane(name: str) -> None:
            batch = batch_end.current()
            assert batch is end
            batch.part(owner, Steps).items.append(name)

        async with asyncio.TaskGroup() as lanes:
            for name in ("a", "b", "c"):
                lanes.create_task(lane(name))
    assert batch_end.current() is None
    steps = end.part(owner, Steps)
    assert sorted(steps.items) == ["a", "b", "c"]
    await end.flush()
    assert [sorted(s) for s in steps.sent] == [["a", "b", "c"]]


async def test_a_task_that_outlives_its_batch_does_its_steps_at_once() -> None:
    with batch_end.collecting() as end:
        seen: list[object] = []
        gate = asyncio.Event()

        async def late() -> None:
            await gate.wait()
            seen.append(batch_end.current())

        task = asyncio.create_task(late())
    await end.flush()
    gate.set()
    await task
    assert seen == [None], "nothing would send a step added after the batch's end"
