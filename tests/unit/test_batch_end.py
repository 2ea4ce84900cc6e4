"""``common.batch_end``: the batch a record runs in, shared by the lanes it starts, and gone
once the batch's steps are being sent; a record backing off sends them first, and a batch
stopped mid-way skips none of its records when it comes again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from common import batch_end
from common.batches import BatchHandler
from common.delivery_rules import DeliveryRules
from common.settings import ServiceSettings


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


def _record(offset: int) -> Any:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=(),
    )


async def test_a_record_backing_off_sends_the_batchs_steps_first() -> None:
    """A record that waits out a back-off holds its batch as long: what the others left to
    the batch's end is sent before the wait, not after it."""
    rules = DeliveryRules(
        ServiceSettings(environment="test", consumer_backoff_max_seconds=0.01),
        None,
        "g",  # type: ignore[arg-type]
    )

    async def store_away(record: Any) -> None:
        raise ConnectionError("the store went away")

    owner = object()
    with batch_end.collecting() as end:
        end.part(owner, Steps).items.append("applied before")
        assert not await rules.process(_record(7), store_away, "g")
        steps = end.part(owner, Steps)
        assert steps.sent == [["applied before"]]
        assert batch_end.current() is end, "the batch goes on collecting"


class Failing:
    """Delivery rules whose handling of one offset stops the batch (a cancellation, or a
    test's failpoint), after the others' steps were left to the batch's end."""

    def __init__(self, stop_at: int) -> None:
        self.stop_at = stop_at
        self.handled: list[int] = []

    async def process(self, record: Any, route: Any, group_id: str) -> bool:
        if record.offset == self.stop_at:
            self.stop_at = -1
            raise RuntimeError("stopped mid-batch")
        batch = batch_end.current()
        assert batch is not None
        batch.part(self, Steps).items.append(str(record.offset))
        self.handled.append(record.offset)
        return True


async def test_a_batch_stopped_mid_way_handles_every_record_again() -> None:
    """Its records' deferred steps were never sent: none may be skipped as finished."""
    rules = Failing(stop_at=2)
    batches = BatchHandler(rules, None, "g")  # type: ignore[arg-type]
    records = [_record(i) for i in range(4)]
    with pytest.raises(RuntimeError):
        await batches.handle(records)
    assert rules.handled == [0, 1]
    assert await batches.handle(records)
    assert rules.handled == [0, 1, 0, 1, 2, 3]
