"""The dispatcher lists waiting notifications by their due mark, on the real store.

A notification carries ``due_mark`` exactly while it is queued or held; the dispatcher's
``send_due`` and ``held_due`` read the marked ones from a sparse unique index instead of scanning
every notification (a district broadcast leaves 100,000 delivered ones behind), and
notifications stored waiting before the mark existed are marked once per database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from common.mongo import ensure_indexes
from common.outbox import UPGRADES
from notify.store.notifications import DUE_MARK, INDEXES, NotificationStore
from tests.store_commands import Commands, keyed, unique_indexes

NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)


def note(nid: str, status: str, **fields: Any) -> dict[str, Any]:
    # Each its own driver: (driver, cause, channel) is unique.
    doc = {"_id": nid, "driver_id": f"d-{nid}", "status": status, "history": []}
    return {**doc, "lease_until": None, **fields}


async def test_only_waiting_notifications_are_marked_and_listed_when_due(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_notify"]
    await ensure_indexes(db, INDEXES)
    store = NotificationStore(db)
    await store.insert_new(
        [
            note("q-due", "queued", next_attempt_at=NOW - timedelta(minutes=1)),
            note("q-later", "queued", next_attempt_at=NOW + timedelta(minutes=5)),
            note("q-leased", "queued", next_attempt_at=NOW, lease_until=NOW + timedelta(1)),
            note("h-due", "held", hold_until=NOW - timedelta(seconds=1)),
            note("h-later", "held", hold_until=NOW + timedelta(hours=1)),
            note("done", "delivered"),
        ]
    )
    marked = {d["_id"] async for d in db["notifications"].find({DUE_MARK: {"$exists": True}})}
    assert marked == {"q-due", "q-later", "q-leased", "h-due", "h-later"}
    assert [d["_id"] for d in await store.send_due(NOW, 10)] == ["q-due"]
    assert [d["_id"] for d in await store.held_due(NOW, 10)] == ["h-due"]

    # Leaving the waiting states drops the mark; entering them sets it.
    await store.transition(
        "q-due", expect={"status": "queued"}, set_fields={}, status="sent", at=NOW
    )
    await store.transition(
        "h-due",
        expect={"status": "held"},
        set_fields={"next_attempt_at": NOW, "hold_until": None},
        status="queued",
        at=NOW,
    )
    sent = await db["notifications"].find_one({"_id": "q-due"})
    assert sent is not None and DUE_MARK not in sent
    assert [d["_id"] for d in await store.send_due(NOW, 10)] == ["h-due"]
    assert await store.held_due(NOW, 10) == []


async def test_notifications_stored_waiting_before_the_mark_are_marked_once(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_notify"]
    await db["notifications"].insert_one(
        note("old", "queued", next_attempt_at=NOW - timedelta(minutes=1))
    )
    await ensure_indexes(db, INDEXES)
    store = NotificationStore(db)
    assert [d["_id"] for d in await store.send_due(NOW, 10)] == ["old"]
    assert await db[UPGRADES].find_one({"_id": "notifications.due_mark"}) is not None
    # Marked now: another process over the same store lists it without the scan.
    assert [d["_id"] for d in await NotificationStore(db).send_due(NOW, 10)] == ["old"]


async def test_a_due_notification_is_claimed_once_by_its_lease_as_read_and_by_index(
    mongo: Any, run_id: str, infra: Any
) -> None:
    commands = Commands()
    client: Any = AsyncMongoClient(infra.mongo_url, tz_aware=True, event_listeners=[commands])
    try:
        db = client[f"{run_id}_notify"]
        await ensure_indexes(db, INDEXES)
        store = NotificationStore(db)
        await store.insert_new(
            [
                note("fresh", "queued", next_attempt_at=NOW - timedelta(minutes=1)),
                note(
                    "ran-out",
                    "queued",
                    next_attempt_at=NOW - timedelta(minutes=1),
                    lease_until=NOW - timedelta(seconds=5),
                ),
            ]
        )
        # Stored by code older than the lease field: no lease_until at all.
        legacy = note("legacy", "queued", next_attempt_at=NOW - timedelta(minutes=1))
        del legacy["lease_until"]
        await db["notifications"].insert_one(legacy)
        due = {d["_id"]: d for d in await store.send_due(NOW, 10)}
        assert set(due) == {"fresh", "ran-out", "legacy"}

        until = NOW + timedelta(minutes=2)
        commands.recording = True
        # Two dispatchers read the same rows; each row goes to exactly one of them.
        first = [await store.claim(row, until) for row in due.values()]
        second = [await store.claim(row, until) for row in due.values()]
        commands.recording = False
        assert sorted(d["_id"] for d in first if d) == ["fresh", "legacy", "ran-out"]
        assert second == [None, None, None]
        assert await store.send_due(NOW, 10) == [], "leased: not due again before the lease ends"

        unique = await unique_indexes(db, ["notifications"])
        claims = [q for name, coll, q in commands.seen if name == "findAndModify"]
        assert len(claims) == 6
        assert all(keyed(q, unique["notifications"]) for q in claims), claims
    finally:
        await client.close()
