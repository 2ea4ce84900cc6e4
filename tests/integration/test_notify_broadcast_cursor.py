"""A broadcast's resolution cursor names the last driver of the page recorded last: it resumes a
resolution after a restart, and goes once the broadcast is resolved, so a finished broadcast
names no driver (an erasure of that driver would otherwise have to find it). Real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from common.events import new_event
from common.outbox import outbox_entry
from common.testing import unique_name
from notify.fanout import WORK_TOPIC, BroadcastBatch
from notify.store.broadcasts import BroadcastStore


async def test_a_resolved_broadcast_keeps_no_cursor(mongo: Any) -> None:
    db = mongo[unique_name("broadcast_cursor_")]
    try:
        store = BroadcastStore(db)
        now = datetime.now(UTC)
        await store.insert(
            {
                "_id": "B-1",
                "status": "scheduled",
                "scheduled_at": now,
                "lease_until": None,
                "lease_owner": None,
                "resolve_after": None,
                "batches_enqueued": 0,
                "outbox": [],
            }
        )
        claimed = await store.claim("B-1", "notify-a", now, now + timedelta(minutes=5))
        assert claimed is not None
        recorded = await store.record_batch(
            "B-1",
            owner="notify-a",
            batch_no=0,
            last_driver="drv_last_of_page",
            size=1,
            until=now + timedelta(minutes=5),
            work_item=outbox_entry(
                WORK_TOPIC,
                new_event(
                    BroadcastBatch(broadcast_id="B-1", batch_no=0, driver_ids=["drv_last_of_page"]),
                    source="driverhome/notify",
                    subject="B-1:0",
                ),
            ),
        )
        resolving = await db["broadcasts"].find_one({"_id": "B-1"})
        resolved = await store.resolved("B-1", "notify-a", now)
        done = await db["broadcasts"].find_one({"_id": "B-1"})
    finally:
        await mongo.drop_database(db.name)
    assert recorded and resolving["resolve_after"] == "drv_last_of_page"
    assert resolved and done["status"] == "fanning_out"
    assert "resolve_after" not in done
