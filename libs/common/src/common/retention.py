"""Purging dedupe records after their retention, in bounded batches.

Processed-event markers and ``Idempotency-Key`` records would otherwise grow without bound.
The store subset has no TTL indexes (the local store ignores them), so each service runs this
job: it deletes records whose indexed date field (``Indexes.purge_by``) is older than the
retention, a batch of ids at a time, oldest first, so one round never holds the store long.
The retention outlives the topics' (``ServiceSettings`` validates it), so a replay never meets
an event whose marker is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.logging import describe_error, get_logger
from common.metrics import RECORDS_PURGED
from common.mongo import Indexes

log = get_logger(__name__)

Document = dict[str, Any]


class RetentionPurge:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        specs: Sequence[Indexes],
        *,
        retention: timedelta,
        every_seconds: float,
        batch_size: int,
        service: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pause_seconds: float = 0.05,
    ) -> None:
        self._db = db
        self._specs = [s for s in specs if s.purge_by]
        self._retention = retention
        self._every_seconds = every_seconds
        self._batch_size = batch_size
        self._service = service
        self._clock = clock
        self._pause_seconds = pause_seconds
        self._task: asyncio.Task[None] | None = None

    async def purge_once(self) -> dict[str, int]:
        """Delete every record past its retention; returns how many, per collection."""
        cutoff = self._clock() - self._retention
        purged: dict[str, int] = {}
        for spec in self._specs:
            assert spec.purge_by is not None
            collection = self._db[spec.collection]
            total = 0
            while True:
                old = {spec.purge_by: {"$lt": cutoff}}
                cursor = collection.find(old, {"_id": 1}).sort(spec.purge_by, 1)
                ids = [doc["_id"] async for doc in cursor.limit(self._batch_size)]
                if not ids:
                    break
                # The cutoff again, so the delete alone never removes a younger record.
                result = await collection.delete_many({"_id": {"$in": ids}, **old})
                total += result.deleted_count
                if len(ids) < self._batch_size:
                    break
                await asyncio.sleep(self._pause_seconds)  # let other work reach the store
            if total:
                RECORDS_PURGED.labels(self._service, spec.collection).inc(total)
            purged[spec.collection] = total
        return purged

    async def _run(self) -> None:
        while True:
            try:
                purged = await self.purge_once()
                if any(purged.values()):
                    log.info("expired records purged", **purged)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store away: the next round tries again
                log.warning("retention purge failed", error=describe_error(exc))
            await asyncio.sleep(self._every_seconds)

    def start(self) -> None:
        if self._specs:
            self._task = asyncio.create_task(self._run(), name=f"{self._service}-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
