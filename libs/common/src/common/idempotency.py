"""The consumers' idempotency guard: each ``(source, id)`` is handled once, or refused.

A marker is written *after* the effects (which are themselves idempotent), so a crash in between
only means the effects run again on redelivery. The same ``(source, id)`` with a different
payload is a partner error: it is refused as poison instead of being silently ignored.

Markers are purged by ``done_at`` after ``dedupe_retention_days`` (``common.retention``), which
the settings keep longer than the topics' retention: an event old enough to lose its marker is
no longer on any topic to be redelivered.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from common.events import CloudEvent, InvalidEvent
from common.mongo import Indexes, insert_once

Document = dict[str, Any]


def fingerprint(event: CloudEvent) -> str:
    canonical = json.dumps(
        {"type": event.type, "subject": event.subject, "data": event.data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key(event: CloudEvent) -> str:
    # Starts with the subject (driver id) so the key stays unique when sharded by driver.
    return f"{event.subject}\x1f{event.source}\x1f{event.id}"


class ProcessedEvents:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    @staticmethod
    def indexes(name: str = "processed_events") -> Indexes:
        return Indexes(
            name,
            (
                IndexModel([("subject", 1), ("source", 1), ("event_id", 1)], unique=True),
                IndexModel([("done_at", 1)], name="done_at"),
            ),
            purge_by="done_at",
        )

    async def seen(self, event: CloudEvent) -> bool:
        """True when already handled; raises InvalidEvent when the payload differs."""
        doc = await self._collection.find_one({"_id": _key(event)}, {"fingerprint": 1})
        if doc is None:
            return False
        if doc["fingerprint"] != fingerprint(event):
            raise InvalidEvent(
                "conflicting_duplicate",
                f"({event.source}, {event.id}) was already received with a different payload",
            )
        return True

    async def mark_done(self, event: CloudEvent) -> None:
        await insert_once(
            self._collection,
            {
                "_id": _key(event),
                "subject": event.subject,
                "source": event.source,
                "event_id": event.id,
                "type": event.type,
                "fingerprint": fingerprint(event),
                "done_at": datetime.now(UTC),
            },
        )
