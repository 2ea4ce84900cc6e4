"""Transactional outbox without transactions.

A state change and the event announcing it are written in one single-document update: the
event goes into the document's ``outbox`` array. The relay publishes it and then pulls it out;
a crash in between means it is published again later, which consumers dedupe by ``(source,
id)``. The sweeper republishes whatever a crash left behind.

The sweeper finds that work by a mark, not by looking into every document's outbox: each write
that pushes an event also sets ``outbox_pending`` to a fresh token, in the same single-document
write (so the mark cannot be missing where an event is). A sparse unique index on the mark lets
the local store list the marked documents from the index entries alone (it scans for anything
but exactly a unique index's fields or a filter naming ``_id``), and the conditional clear is
found by ``_id``: ``flush`` removes the mark only if it is still the token it read, so an event
pushed meanwhile keeps its document marked. Every push goes through :func:`push_outbox` or
:func:`outbox_fields` (``tests/unit/test_outbox_writers.py`` refuses any other). The mark
starts with the time of its write, and the sweeper skips marks younger than its grace (at most a
second): those belong to a writer that is about to flush, and sweeping them too sent every such
event twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from common.bus import Publisher
from common.events import CloudEvent
from common.logging import describe_error, get_logger
from common.metrics import OUTBOX_PENDING
from common.mongo import Indexes
from common.periodic import Periodic

log = get_logger(__name__)

Document = dict[str, Any]
OUTBOX_FIELD = "outbox"
PENDING_FIELD = "outbox_pending"
# Projection that leaves the outbox and its mark out of what a reader gets.
OUTBOX_HIDDEN: Document = {OUTBOX_FIELD: 0, PENDING_FIELD: 0}
# ``$unset`` of both, for a write that drops a document's unsent events (erasure, retention).
OUTBOX_UNSET: Document = {OUTBOX_FIELD: "", PENDING_FIELD: ""}
# Where each service database notes, per collection, that the one scan for events stored before
# the mark existed has run.
UPGRADES = "outbox_upgrades"
# Any string: the shape the local store answers from a unique index's entries, not a scan
# (mongo-java-server ``AbstractUniqueIndex.canHandle``/``getPositions``; ``$exists`` scans).
MARKED: Document = {PENDING_FIELD: {"$regex": "^"}}
SWEEP_BATCH = 500


def outbox_entry(topic: str, event: CloudEvent) -> Document:
    """The sub-document to push into ``outbox`` (with :func:`push_outbox`) alongside the state
    change."""
    return {"event_id": event.id, "topic": topic, "key": event.subject, "payload": event.to_bytes()}


def _token() -> str:
    # Fresh per write, never an event id: ids may be derived from their cause and repeat
    # across documents, and the mark's index is unique. It starts with the write's time, so the
    # sweeper can tell a mark its writer is still flushing from one a crash left behind.
    return f"{time.time_ns() // 1_000_000:013d}.{uuid.uuid4().hex}"


# A writer's clock this far ahead of the sweeper's is wrong, not early: sweep its marks at once.
_MAX_SKEW_MS = 60_000


def marked_before(token: str, cutoff_ms: int) -> bool:
    """Whether a mark was set before ``cutoff_ms`` (a mark without a time, from before marks
    had one, or from a clock far ahead, counts as old)."""
    stamp, dot, _ = token.partition(".")
    if not dot or not stamp.isdigit():
        return True
    written = int(stamp)
    return written <= cutoff_ms or written > cutoff_ms + _MAX_SKEW_MS


def _entries(entries: Document | Sequence[Document]) -> list[Document]:
    return [dict(entries)] if isinstance(entries, Mapping) else list(entries)


def push_outbox(update: Mapping[str, Any], entries: Document | Sequence[Document]) -> Document:
    """``update`` that also pushes ``entries`` into the outbox and marks the document pending,
    one single-document write; ``update`` unchanged when there is nothing to push."""
    items = _entries(entries)
    out: Document = dict(update)
    if not items:
        return out
    out["$push"] = {**out.get("$push", {}), OUTBOX_FIELD: {"$each": items}}
    out["$set"] = {**out.get("$set", {}), PENDING_FIELD: _token()}
    return out


def outbox_fields(entries: Document | Sequence[Document]) -> Document:
    """The fields a new document carries its events in (insert them with its state)."""
    items = _entries(entries)
    return {OUTBOX_FIELD: items, PENDING_FIELD: _token()} if items else {OUTBOX_FIELD: []}


def drop_outbox(doc: Document) -> Document:
    """``doc`` without its outbox and mark (a document written with its events, now answered)."""
    for name in OUTBOX_HIDDEN:
        doc.pop(name, None)
    return doc


def outbox_indexes(collection: str) -> Indexes:
    """The mark's index on a collection with an outbox: the sweep's list of marked documents.
    (flush's conditional clear is found by ``_id``; the ``(_id, mark)`` index that served it on
    the local store before it answered such filters by ``_id`` is retired.)"""
    return Indexes(
        collection,
        [IndexModel([(PENDING_FIELD, ASCENDING)], unique=True, sparse=True)],
        retired=(f"_id_1_{PENDING_FIELD}_1",),
    )


def _pull_sent(doc: Document) -> Document:
    ids = [entry["event_id"] for entry in doc.get(OUTBOX_FIELD) or []]
    return {"$pull": {OUTBOX_FIELD: {"event_id": {"$in": ids}}}} if ids else {}


async def clear_sent(collection: AsyncCollection[Document], docs: Sequence[Document]) -> None:
    """After publishing what ``docs`` (each read with its outbox and mark) held: pull those
    entries, and clear each mark that is still the one read. A document a write marked again
    meanwhile keeps its new mark and its new entries for the next flush or sweep."""
    marked = [d for d in docs if d.get(PENDING_FIELD) is not None]
    cleared = 0
    if marked:
        # Found by _id, the mark matched on that one document.
        ops = [
            UpdateOne(
                {"_id": d["_id"], PENDING_FIELD: d[PENDING_FIELD]},
                {**_pull_sent(d), "$unset": {PENDING_FIELD: ""}},
            )
            for d in marked
        ]
        cleared = (await collection.bulk_write(ops, ordered=False)).matched_count
    if cleared == len(docs):
        return
    # Marked again meanwhile, or never marked: pull what went out (again is harmless).
    pulls = [UpdateOne({"_id": d["_id"]}, pull) for d in docs if (pull := _pull_sent(d))]
    if pulls:
        await collection.bulk_write(pulls, ordered=False)


async def note_all_marked(db: AsyncDatabase[Document], collection: str) -> None:
    """Say ``collection`` holds no event without its mark, so no sweeper scans it for events
    stored before marks existed (a bulk load into a new database)."""
    await db[UPGRADES].update_one(
        {"_id": collection},
        {"$set": {"scanned_at": datetime.now(UTC), "marked": 0}},
        upsert=True,
    )


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
        grace_seconds: float | None = None,
    ) -> None:
        self._collections = list(collections)
        # A mark younger than this is left to its writer, who flushes right after the write:
        # sweeping it too would publish the same events twice (allowed, but each duplicate is
        # work for every consumer). A crash's marks are taken by the next sweep instead.
        self._grace_ms = int(
            1000 * (min(1.0, sweep_seconds) if grace_seconds is None else grace_seconds)
        )
        self._publisher = publisher
        self._service = service
        # Per collection name: what the owner re-derives from a document before the sweeper
        # republishes what a crash left in its outbox (the registry refiles a driver's lookups).
        self._before_republish = dict(before_republish or {})
        self._loop = Periodic(f"{service}-outbox-relay", sweep_seconds, self.sweep)

        self._upgraded: set[str] = set()

    async def flush(self, collection: AsyncCollection[Document], doc_id: Any) -> int:
        """Publish a document's pending events in order, then pull them and clear its mark
        unless a write marked it again meanwhile; returns how many went out."""
        doc = await collection.find_one({"_id": doc_id}, {OUTBOX_FIELD: 1, PENDING_FIELD: 1})
        if doc is None:
            return 0
        return await self._publish_and_clear(collection, doc)

    async def flush_inserted(self, collection: AsyncCollection[Document], doc: Document) -> int:
        """``flush`` for a document this call has just inserted with its events, as inserted
        (its outbox and mark included), without reading it back. Nothing can stand before those
        events; a write after the insert marks the document again and adds its events after
        them, and whoever flushes that write reads the document, so publishes ours first."""
        return await self._publish_and_clear(collection, doc)

    async def _publish_and_clear(self, collection: AsyncCollection[Document], doc: Document) -> int:
        entries = doc.get(OUTBOX_FIELD) or []
        for entry in entries:
            await self._publisher.publish_payload(
                entry["topic"], entry["key"], bytes(entry["payload"])
            )
        # A crash before this point publishes them all again (consumers dedupe by id).
        await clear_sent(collection, [doc])
        return len(entries)

    async def sweep(self) -> int:
        total = 0
        for collection in self._collections:
            if collection.name not in self._upgraded:
                await self._mark_unmarked(collection)
                self._upgraded.add(collection.name)
            # Oldest marks first (the mark starts with its time), so young ones cannot crowd a
            # crash's leftovers out of the batch.
            cursor = (
                collection.find(MARKED, {"_id": 1, PENDING_FIELD: 1})
                .sort(PENDING_FIELD, ASCENDING)
                .limit(SWEEP_BATCH)
            )
            cutoff = time.time_ns() // 1_000_000 - self._grace_ms
            repair = self._before_republish.get(collection.name)
            async for doc in cursor:
                if not marked_before(doc[PENDING_FIELD], cutoff):
                    continue
                if repair is not None:
                    await repair(doc["_id"])
                try:
                    total += await self.flush(collection, doc["_id"])
                except MessageSizeTooLargeError as exc:
                    # Never sendable as it is: it stays marked (and logged on every pass) for
                    # an operator, and does not stop the sweep of every document after it.
                    log.error(
                        "outbox: an event too large for the broker",
                        collection=collection.name,
                        doc_id=str(doc["_id"]),
                        error=describe_error(exc),
                    )
        if total:
            OUTBOX_PENDING.labels(self._service).inc(total)
        return total

    async def _mark_unmarked(self, collection: AsyncCollection[Document]) -> None:
        """Once per collection and database: mark the documents whose events were stored before
        writes marked them (an upgraded store). The one scan the sweeper still makes; noted as
        done only after every such document is marked, so a crash means scanning again."""
        upgrades = collection.database[UPGRADES]
        if await upgrades.find_one({"_id": collection.name}) is not None:
            return
        legacy = {f"{OUTBOX_FIELD}.0": {"$exists": True}, PENDING_FIELD: {"$exists": False}}
        marked = 0
        async for doc in collection.find(legacy, {"_id": 1}):
            # Overwriting a mark a write set meanwhile only costs one more flush.
            await collection.update_one({"_id": doc["_id"]}, {"$set": {PENDING_FIELD: _token()}})
            marked += 1
        await upgrades.update_one(
            {"_id": collection.name},
            {"$set": {"scanned_at": datetime.now(UTC), "marked": marked}},
            upsert=True,
        )
        if marked:
            log.info("outbox events stored before marks found", collection=collection.name)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()


# How a use case reaches the relay: the runtime starts it after the use cases are wired, so they
# are given a way to read it when they announce, not the relay itself.
RelayRef = Callable[[], OutboxRelay | None]


async def publish_now(
    relay: RelayRef,
    collection: AsyncCollection[Document],
    doc_id: Any,
    *,
    inserted: Document | None = None,
) -> None:
    """Publish what a document's outbox holds now, or leave it to the relay's sweeper: the
    state and its events are stored together, so a failure here only delays them.
    ``inserted``: the document as this call just inserted it (``OutboxRelay.flush_inserted``)."""
    current = relay()
    if current is None:
        return
    try:
        if inserted is not None:
            await current.flush_inserted(collection, inserted)
        else:
            await current.flush(collection, doc_id)
    except Exception as exc:  # the state is stored; the sweeper publishes it later
        log.warning(
            "events not published yet; the outbox sweeper will",
            collection=collection.name,
            error=describe_error(exc),
        )
