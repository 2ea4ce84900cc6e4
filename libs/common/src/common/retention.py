"""Purging dedupe records after their retention, in bounded batches.

Processed-event markers and ``Idempotency-Key`` records would otherwise grow without bound.
The store subset has no TTL indexes (the local store ignores them), so each service runs this
job: it deletes records whose indexed date field (``Indexes.purge_by``) is older than the
retention, a batch of ids at a time, oldest first, so one round never holds the store long.
The retention outlives the topics' (``ServiceSettings`` validates it), so a replay never meets
an event whose marker is gone.

The same job keeps each service's personal data classes to their retention (issue 14; the
periods are listed in docs/security.md): an :class:`Expire` rule deletes, or strips of what is
personal, the records of one class whose date field is older than its period, in the same
bounded batches; a service with a rule that needs more than a filter (stations' visit history,
which follows the driver's location consent) brings its own :class:`RetentionRule`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock, utc_now
from common.logging import get_logger
from common.metrics import RECORDS_PURGED
from common.mongo import Indexes
from common.periodic import Periodic

log = get_logger(__name__)

Document = dict[str, Any]


class RetentionRule(Protocol):
    """One data class's retention: ``apply`` purges one round, returns how many records."""

    @property
    def data_class(self) -> str: ...

    async def apply(self, db: AsyncDatabase[Document], now: datetime, batch_size: int) -> int: ...


@dataclass(frozen=True)
class Expire:
    """Records of ``collection`` whose ``dated_by`` is older than ``keep`` (and that match
    ``where``) are deleted, or, with ``strip``, updated by it (then no longer matching)."""

    data_class: str
    collection: str
    dated_by: str
    keep: timedelta
    where: Document = field(default_factory=dict)
    strip: Document | None = None

    async def apply(self, db: AsyncDatabase[Document], now: datetime, batch_size: int) -> int:
        old = {self.dated_by: {"$lt": now - self.keep}, **self.where}
        collection = db[self.collection]
        total = 0
        while True:
            ids = [d["_id"] async for d in collection.find(old, {"_id": 1}).limit(batch_size)]
            if not ids:
                return total
            chosen = {"_id": {"$in": ids}, **old}
            if self.strip is None:
                total += (await collection.delete_many(chosen)).deleted_count
            else:
                total += (await collection.update_many(chosen, self.strip)).modified_count
            if len(ids) < batch_size:
                return total


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
        clock: Clock = utc_now,
        pause_seconds: float = 0.05,
    ) -> None:
        self._db = db
        self._specs = [s for s in specs if s.purge_by]
        self._rules: list[RetentionRule] = []
        self._retention = retention
        self._batch_size = batch_size
        self._service = service
        self._clock = clock
        self._pause_seconds = pause_seconds
        self._loop = Periodic(f"{service}-purge", every_seconds, self._purge_and_log)

    def add(self, rules: Sequence[RetentionRule]) -> None:
        """The service's personal data classes, purged with the dedupe records."""
        self._rules.extend(rules)

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
        now = self._clock()
        for rule in self._rules:
            count = await rule.apply(self._db, now, self._batch_size)
            if count:
                RECORDS_PURGED.labels(self._service, rule.data_class).inc(count)
            purged[rule.data_class] = purged.get(rule.data_class, 0) + count
        return purged

    async def _purge_and_log(self) -> None:
        purged = await self.purge_once()
        if any(purged.values()):
            log.info("expired records purged", **purged)

    def start(self) -> None:
        if self._specs or self._rules:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()


def days(settings_days: dict[str, float], data_class: str, default: float) -> timedelta:
    """A class's period: the setting ``retention_days[data_class]``, else the default."""
    return timedelta(days=settings_days.get(data_class, default))
