"""The outbox sweeper finds its work by the ``outbox_pending`` mark, on the real store.

What a crash leaves in an outbox is found without looking into every document, published once
per sweep that finds it, and its mark cleared only when no write marked the document again
meanwhile. (That the services' events reach consumers after a SIGKILL is proven end to end on
the real broker in tests/e2e; here the publisher only records what it was asked to send.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from pymongo import AsyncMongoClient

from common.events import CloudEvent, new_event
from common.events.aid_campaigns import GiftDelivered
from common.mongo import ensure_indexes
from common.outbox import (
    OUTBOX_FIELD,
    PENDING_FIELD,
    UPGRADES,
    OutboxRelay,
    outbox_entry,
    outbox_fields,
    outbox_indexes,
    push_outbox,
)
from common.testing import Infra
from tests.store_commands import Commands, plans

TOPIC = "cases.events"
AT = datetime(2026, 12, 4, 9, tzinfo=UTC)


class Recorder:
    """Stands in for the Kafka publisher: what the relay sends, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.during: Callable[[], Awaitable[None]] | None = None
        self.too_large: set[str] = set()

    async def publish_payload(self, topic: str, key: str, payload: bytes) -> None:
        event_id = CloudEvent.model_validate_json(payload).id
        if event_id in self.too_large:  # as the broker's producer refuses one past its limit
            raise MessageSizeTooLargeError()
        self.sent.append(event_id)
        if self.during is not None:
            during, self.during = self.during, None
            await during()


def entry(event_id: str) -> dict[str, Any]:
    data = GiftDelivered(campaign_id="c1", driver_id="d1", station_id="s1", delivered_at=AT)
    event = new_event(data, source="test", subject="d1", event_id=event_id)
    return outbox_entry(TOPIC, event)


async def relay_over(db: Any, grace_seconds: float = 0) -> tuple[OutboxRelay, Recorder, Any]:
    """A relay whose sweeps run only when called (by default taking marks of any age)."""
    await ensure_indexes(db, [outbox_indexes("docs")])
    recorder = Recorder()
    relay = OutboxRelay(
        [db["docs"]],
        recorder,  # type: ignore[arg-type]
        sweep_seconds=3600,
        service="test",
        grace_seconds=grace_seconds,
    )
    return relay, recorder, db["docs"]


async def test_a_crash_left_event_is_swept_once_and_its_mark_cleared(
    mongo: Any, run_id: str
) -> None:
    relay, recorder, docs = await relay_over(mongo[f"{run_id}_outbox"])
    await docs.insert_one({"_id": "quiet", **outbox_fields([])})
    await docs.insert_one({"_id": "d1", "n": 1, **outbox_fields(entry("e1"))})
    await docs.update_one({"_id": "d1"}, push_outbox({"$inc": {"n": 1}}, entry("e2")))
    # ... and the process died before flushing either write.
    quiet = await docs.find_one({"_id": "quiet"})
    assert quiet == {"_id": "quiet", OUTBOX_FIELD: []}, "no events, no mark"

    assert await relay.sweep() == 2
    assert recorder.sent == ["e1", "e2"]
    doc = await docs.find_one({"_id": "d1"})
    assert doc[OUTBOX_FIELD] == [] and PENDING_FIELD not in doc and doc["n"] == 2
    assert await relay.sweep() == 0
    assert recorder.sent == ["e1", "e2"]


async def test_an_event_too_large_to_send_stays_marked_and_the_sweep_goes_on_past_it(
    mongo: Any, run_id: str
) -> None:
    relay, recorder, docs = await relay_over(mongo[f"{run_id}_outbox"])
    recorder.too_large.add("big")
    await docs.insert_one({"_id": "a-oldest", **outbox_fields(entry("big"))})
    await docs.insert_one({"_id": "b-next", **outbox_fields(entry("e1"))})
    assert await relay.sweep() == 1
    assert recorder.sent == ["e1"]
    stuck = await docs.find_one({"_id": "a-oldest"})
    assert PENDING_FIELD in stuck and len(stuck[OUTBOX_FIELD]) == 1, "kept for an operator"
    assert PENDING_FIELD not in await docs.find_one({"_id": "b-next"})


async def test_a_write_during_a_flush_keeps_the_document_marked_for_the_next_sweep(
    mongo: Any, run_id: str
) -> None:
    relay, recorder, docs = await relay_over(mongo[f"{run_id}_outbox"])
    await docs.insert_one({"_id": "d1", **outbox_fields(entry("e1"))})

    async def concurrent_write() -> None:
        await docs.update_one({"_id": "d1"}, push_outbox({}, entry("e2")))

    recorder.during = concurrent_write  # between the flush's read and its clear
    assert await relay.flush(docs, "d1") == 1
    doc = await docs.find_one({"_id": "d1"})
    assert [e["event_id"] for e in doc[OUTBOX_FIELD]] == ["e2"]
    assert PENDING_FIELD in doc, "the later write's mark stays"

    assert await relay.sweep() == 1
    assert recorder.sent == ["e1", "e2"]
    doc = await docs.find_one({"_id": "d1"})
    assert doc[OUTBOX_FIELD] == [] and PENDING_FIELD not in doc


async def test_a_document_just_inserted_is_flushed_without_reading_it_back(
    infra: Infra, run_id: str
) -> None:
    commands = Commands()
    client: Any = AsyncMongoClient(infra.mongo_url, tz_aware=True, event_listeners=[commands])
    try:
        relay, recorder, docs = await relay_over(client[f"{run_id}_outbox"])
        inserted = {"_id": "d1", "n": 1, **outbox_fields([entry("e1"), entry("e2")])}
        await docs.insert_one(inserted)
        commands.recording = True
        assert await relay.flush_inserted(docs, inserted) == 2
        commands.recording = False
        doc = await docs.find_one({"_id": "d1"})
    finally:
        await client.close()
    assert recorder.sent == ["e1", "e2"]
    assert doc == {"_id": "d1", "n": 1, OUTBOX_FIELD: []}, "published, pulled, mark cleared"
    assert [name for name, *_ in commands.seen] == ["update"], "one clear, no read"


async def test_a_write_after_the_insert_keeps_its_events_for_its_own_flush(
    mongo: Any, run_id: str
) -> None:
    """Another write between the insert and its flush adds its event after ours and marks the
    document again: the flush of what was inserted sends only ours, and the later write's
    flush (which reads) or the sweep sends the rest, in the document's order."""
    relay, recorder, docs = await relay_over(mongo[f"{run_id}_outbox"])
    inserted = {"_id": "d1", **outbox_fields(entry("e1"))}
    await docs.insert_one(inserted)
    await docs.update_one({"_id": "d1"}, push_outbox({}, entry("e2")))
    assert await relay.flush_inserted(docs, inserted) == 1
    doc = await docs.find_one({"_id": "d1"})
    assert [e["event_id"] for e in doc[OUTBOX_FIELD]] == ["e2"]
    assert PENDING_FIELD in doc, "the later write's mark stays"
    assert await relay.flush(docs, "d1") == 1
    assert recorder.sent == ["e1", "e2"]
    doc = await docs.find_one({"_id": "d1"})
    assert doc[OUTBOX_FIELD] == [] and PENDING_FIELD not in doc


async def test_events_stored_before_marks_existed_are_found_once_per_store(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_outbox"]
    docs = db["docs"]
    # An upgraded store: an event written by the earlier code, without a mark.
    await docs.insert_one({"_id": "old", OUTBOX_FIELD: [entry("e0")]})
    relay, recorder, _ = await relay_over(db)

    assert await relay.sweep() == 1
    assert recorder.sent == ["e0"]
    assert (await db[UPGRADES].find_one({"_id": "docs"}))["marked"] == 1
    # Another process over the same store does not scan again.
    again, again_sent, _ = await relay_over(db)
    await docs.insert_one({"_id": "d1", **outbox_fields(entry("e1"))})
    assert await again.sweep() == 1
    assert again_sent.sent == ["e1"]


async def test_a_mark_its_writer_is_still_flushing_is_left_to_the_writer(
    mongo: Any, run_id: str
) -> None:
    relay, recorder, docs = await relay_over(mongo[f"{run_id}_outbox"], grace_seconds=60)
    await docs.insert_one({"_id": "fresh", **outbox_fields(entry("e1"))})
    # Within the grace: the writer's own flush sends it; a sweep now would send it twice.
    assert await relay.sweep() == 0
    assert recorder.sent == []

    # The writer died: its mark ages past the grace and the next sweep takes it.
    hour_ago = int((time.time() - 3600) * 1000)
    await docs.update_one({"_id": "fresh"}, {"$set": {PENDING_FIELD: f"{hour_ago:013d}.a"}})
    # A writer whose clock runs far ahead, and a mark from before marks had a time, are old.
    ahead = int((time.time() + 86_400) * 1000)
    await docs.insert_one({"_id": "ahead", **outbox_fields(entry("e2"))})
    await docs.update_one({"_id": "ahead"}, {"$set": {PENDING_FIELD: f"{ahead:013d}.b"}})
    await docs.insert_one({"_id": "timeless", **outbox_fields(entry("e3"))})
    await docs.update_one({"_id": "timeless"}, {"$set": {PENDING_FIELD: uuid.uuid4().hex}})
    await docs.insert_one({"_id": "young", **outbox_fields(entry("e4"))})

    assert await relay.sweep() == 3
    assert sorted(recorder.sent) == ["e1", "e2", "e3"]
    left = [doc["_id"] async for doc in docs.find({PENDING_FIELD: {"$exists": True}})]
    assert left == ["young"]


async def test_the_retired_id_and_mark_index_is_dropped_and_the_clear_still_reads_no_scan(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_outbox"]
    # As an earlier version left the store: the (_id, mark) index that served the clear.
    await db["docs"].create_index([("_id", 1), (PENDING_FIELD, 1)], unique=True)
    relay, recorder, docs = await relay_over(db)
    names = {index["name"] async for index in await docs.list_indexes()}
    assert names == {"_id_", f"{PENDING_FIELD}_1"}
    await ensure_indexes(db, [outbox_indexes("docs")])  # again: nothing left to drop

    await docs.insert_one({"_id": "d1", **outbox_fields(entry("e1"))})
    served = await plans(db, "docs")
    assert await relay.flush(docs, "d1") == 1
    doc = await docs.find_one({"_id": "d1"})
    assert doc[OUTBOX_FIELD] == [] and PENDING_FIELD not in doc
    after = await plans(db, "docs")
    assert after["scan"] == served["scan"], "the conditional clear read every document"
    assert after["id_first"] > served["id_first"]
    assert recorder.sent == ["e1"]
