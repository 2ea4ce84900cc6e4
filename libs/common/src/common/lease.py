"""A lease in the store, so a job that must run once per round (not once per replica) does.

One document per job in ``leases``: ``{_id: name, holder, expires_at}``. Taking or renewing it
is one conditional upsert: it matches only when the lease is free (lapsed) or already ours; when
another live holder has it the upsert's insert hits the ``_id`` and fails, which means "not
yours". A holder that dies simply stops renewing, and the lease lapses after ``ttl``.

Replicas compare ``expires_at`` with their own clocks, so ``ttl`` should dwarf clock skew.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock, utc_now
from common.mongo import is_duplicate_key

Document = dict[str, Any]
LEASES = "leases"
_LAPSED = datetime(1970, 1, 1, tzinfo=UTC)


class Lease(Protocol):
    @property
    def name(self) -> str: ...

    async def acquire(self) -> bool:
        """Take or renew the lease; True while this holder has it."""
        ...

    async def release(self) -> None: ...


def instance_id() -> str:
    """Unique per process, readable in the store: which pod holds the lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StoreLease:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        name: str,
        holder: str | None = None,
        *,
        ttl: timedelta,
        clock: Clock = utc_now,
        collection: str = LEASES,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        self._leases = db[collection]
        self._name = name
        self.holder = holder or instance_id()
        self._ttl = ttl
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    async def acquire(self) -> bool:
        now = self._clock()
        free_or_ours = {"$or": [{"expires_at": {"$lt": now}}, {"holder": self.holder}]}
        try:
            doc = await self._leases.find_one_and_update(
                {"_id": self._name, **free_or_ours},
                {"$set": {"holder": self.holder, "expires_at": now + self._ttl, "renewed_at": now}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except Exception as exc:
            if is_duplicate_key(exc):
                return False  # a live holder has it
            raise
        return doc is not None and doc.get("holder") == self.holder

    async def release(self) -> None:
        """Let the next replica take over at its next round instead of after the ttl."""
        await self._leases.update_one(
            {"_id": self._name, "holder": self.holder},
            {"$set": {"expires_at": _LAPSED}},
        )

    async def holder_now(self) -> str | None:
        doc = await self._leases.find_one({"_id": self._name})
        if doc is None or doc["expires_at"] < self._clock():
            return None
        return str(doc["holder"])
