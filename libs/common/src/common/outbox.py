"""Transactional outbox without transactions.

A state change and the event announcing it are written in one single-document update: the
event goes into the document's ``outbox`` array. The relay publishes it and then pulls it out;
a crash in between means it is published again later, which consumers dedupe by ``(source,
id)``. The sweeper republishes whatever a crash left behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.bus import Publisher
from common.events import CloudEvent
from common.logging import describe_error, get_logger
from common.metrics import OUTBOX_PENDING
from common.periodic import Periodic

log = get_logger(__name__)

Document = dict[str, Any]
OUTBOX_FIELD = "outbox"


def outbox_entry(topic: str, event: CloudEvent) -> Document:
    """The sub-document to ``$push`` into ``outbox`` alongside the state change."""
    return {"event_id": event.id, "topic": topic, "key": event.subject, "payload": event.to_bytes()}


def no_relay() -> OutboxRelay | None:
    return None


class OutboxRelay:
    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        publisher: Publisher,
        *,
        sweep_seconds: float,
        service: str,
        before_republish: Mapping[str, Callable[[Any], Awaitable[None]]] | None = None,
    ) -> None:
        self._collections = list(collections)
        self._publisher = publisher
        self._service = service
        # Per collection name: what the owner re-derives from a document before the sweeper
        # republishes what a crash left in its outbox (the registry refiles a driver's lookups).
        self._before_republish = dict(before_republish or {})
        self._loop = Periodic(f"{service}-outbox-relay", sweep_seconds, self.sweep)

    async def flush(self, collection: AsyncCollection[Document], doc_id: Any) -> int:
        """Publish a document's pending events in order; returns how many went out."""
        doc = await collection.find_one({"_id": doc_id}, {OUTBOX_FIELD: 1})
        sent = 0
        for entry in (doc or {}).get(OUTBOX_FIELD, []):
            await self._publisher.publish_payload(
                entry["topic"], entry["key"], bytes(entry["payload"])
            )
            await collection.update_one(
                {"_id": doc_id}, {"$pull": {OUTBOX_FIELD: {"event_id": entry["event_id"]}}}
            )
            sent += 1
        return sent

    async def sweep(self) -> int:
        total = 0
        for collection in self._collections:
            cursor = collection.find({f"{OUTBOX_FIELD}.0": {"$exists": True}}, {"_id": 1}).limit(
                500
            )
            repair = self._before_republish.get(collection.name)
            async for doc in cursor:
                if repair is not None:
                    await repair(doc["_id"])
                total += await self.flush(collection, doc["_id"])
        if total:
            OUTBOX_PENDING.labels(self._service).inc(total)
        return total

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()


# How a use case reaches the relay: the runtime starts it after the use cases are wired, so they
# are given a way to read it when they announce, not the relay itself.
RelayRef = Callable[[], OutboxRelay | None]


async def publish_now(relay: RelayRef, collection: AsyncCollection[Document], doc_id: Any) -> None:
    """Publish what a document's outbox holds now, or leave it to the relay's sweeper: the
    state and its events are stored together, so a failure here only delays them."""
    current = relay()
    if current is None:
        return
    try:
        await current.flush(collection, doc_id)
    except Exception as exc:  # the state is stored; the sweeper publishes it later
        log.warning(
            "events not published yet; the outbox sweeper will",
            collection=collection.name,
            error=describe_error(exc),
        )
