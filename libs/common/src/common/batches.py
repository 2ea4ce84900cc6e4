"""A batched subscription's records under the delivery rules (handbook section 3).

A batch is committed once, after every record in it is done (its effects durable, or it is in
the DLQ). A record that is not done yet (a transient failure) rewinds the whole batch; the
records of it this process already finished are remembered and skipped when the rewind
fetches them again, so a rewind repeats no work here (another process that takes the
partition over handles them again, which their idempotent effects make harmless).

With ``lanes`` > 1 a batch's records are grouped by key and up to that many keys run at once:
one driver's events keep their order (the record key is the subject, handbook section 2)
while different drivers' store round trips overlap.

Steps the handlers leave to the batch's end (``common.batch_end``) are sent after its records
and before the commit, and sent again (with a growing pause) until they succeed: they are
idempotent, and handling the records again would not make them all again (a record whose own
effects are kept as done, such as a processed-event mark, skips its handler).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeAlias

from aiokafka import ConsumerRecord

from common import batch_end
from common.delivery_rules import DeliveryRules, RecordRoute
from common.faults import Faults
from common.logging import describe_error, get_logger

log = get_logger(__name__)

# Between tries of a batch's deferred steps: the store is likely away.
END_RETRY_SECONDS = 1.0
END_RETRY_MAX_SECONDS = 30.0

Record: TypeAlias = ConsumerRecord[bytes, bytes]


def key_lanes(records: Sequence[Record]) -> list[list[Record]]:
    """A batch's records by key, each lane in offset order. A record without a key shares a
    lane with its partition's other keyless ones."""
    lanes: dict[object, list[Record]] = {}
    for record in records:
        lane = record.key if record.key else (record.topic, record.partition)
        lanes.setdefault(lane, []).append(record)
    return list(lanes.values())


def _position(record: Record) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


class BatchHandler:
    """Handles the batches of one subscription; ``handle`` says whether to commit."""

    def __init__(
        self,
        rules: DeliveryRules,
        route: RecordRoute,
        group_id: str,
        *,
        lanes: int = 1,
        faults: Faults | None = None,
    ) -> None:
        self._rules = rules
        self._route = route
        self._group_id = group_id
        self._lanes = lanes
        # Test-only failpoints: a crash between a batch's handled records and its commit.
        self._faults = faults or Faults()
        # Finished records of a batch that was rewound, until a batch is committed.
        self._finished: set[tuple[str, int, int]] = set()
        self._handled = 0

    async def handle(self, records: Sequence[Record]) -> bool:
        """True: every record is done, commit the batch. False: rewind it."""
        todo = [r for r in records if _position(r) not in self._finished]
        self._handled = 0
        try:
            with batch_end.collecting() as end:
                if self._lanes > 1:
                    done = await self._in_lanes(todo)
                else:
                    done = await self._in_order(todo)
        except BaseException:
            # Stopped mid-batch (cancelled, or a test's failpoint): the records' deferred
            # steps were not sent, so none of them may be skipped if the batch comes again.
            self._finished.clear()
            raise
        # Also after a record that is not done: the others' steps are finished work.
        await self._send_deferred(end, len(records))
        if done:
            self._finished.clear()
        return done

    async def _send_deferred(self, end: batch_end.BatchEnd, records: int) -> None:
        pause = END_RETRY_SECONDS
        while True:
            try:
                await end.flush()
                return
            except Exception as exc:
                log.warning(
                    "a batch's deferred steps failed; trying again",
                    error=describe_error(exc),
                    records=records,
                    retry_in_s=pause,
                )
            await asyncio.sleep(pause)
            pause = min(END_RETRY_MAX_SECONDS, pause * 2)

    async def _one(self, record: Record) -> bool:
        if not await self._rules.process(record, self._route, self._group_id):
            return False
        self._finished.add(_position(record))
        self._faults.hit(f"bus.batch.handled.{self._handled}")
        self._handled += 1
        return True

    async def _in_order(self, records: Sequence[Record]) -> bool:
        for record in records:
            if not await self._one(record):
                return False
        return True

    async def _in_lanes(self, records: Sequence[Record]) -> bool:
        """A lane stops at its first record that is not done, and then the others stop at
        their next record, so no key's later record is handled before an earlier one."""
        room = asyncio.Semaphore(self._lanes)
        failed = False

        async def run(lane: list[Record]) -> None:
            nonlocal failed
            async with room:
                for record in lane:
                    if failed:
                        return
                    if not await self._one(record):
                        failed = True
                        return

        # A failpoint's exception (tests only) cancels the other lanes, as it stops the
        # loop in order.
        async with asyncio.TaskGroup() as running:
            for lane in key_lanes(records):
                running.create_task(run(lane))
        return not failed
