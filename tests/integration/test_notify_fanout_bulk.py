"""A broadcast's fan-out in bulk, on the real broker and store: a page that fails after its
inbox documents are stored is fanned out again without a second inbox item or a second
announcement (announced per page, or per driver for consumers not yet reading the page event),
and per-driver rate limits are checked for a whole page at once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.testing import Infra, read_topic, unique_name, wait_until
from notify.app import create_app
from notify.domain import broadcast_notification_id, paged_notification_id, rate_window
from notify.settings import NotifySettings
from notify.store.rate_limits import RateLimitStore
from tests.support import serve

DRIVERS = 12
PAGE = 5  # three pages; the second fails once after its documents are stored
POLICY_TO_EVERYONE = {
    "category": "policy",
    "segment": {"kind": "everyone"},
    "content": {"zh-CN": {"title": "港区新规", "body": "集卡预约规则调整。"}},
}


async def completed(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    answer = (await http.get(path, headers=headers)).json()
    return answer if answer["status"] == "completed" else None


@pytest.mark.parametrize("announcements", ["page", "driver"])
async def test_a_page_failing_after_its_inserts_is_fanned_out_again_once_per_inbox(
    announcements: str,
    infra: Infra,
    make_settings: Callable[..., NotifySettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "failed"
    settings = make_settings(
        NotifySettings,
        broadcast_batch_size=PAGE,
        rate_limit_per_window=2,
        broadcast_announcements=announcements,
        faults={"notify.broadcast.batch_written.1": f"raise_once:{marker}"},
    )
    db = mongo[settings.mongo_db]
    drivers = sorted(unique_name("drv_") for _ in range(DRIVERS))
    await db["drivers"].insert_many([{"_id": d, "active": True} for d in drivers])
    # Two drivers take policy notices by SMS too; one of them already had two this hour.
    texting, limited = drivers[1], drivers[7]
    await db["preferences"].insert_many(
        [
            {"_id": d, "channels": {"policy": ["inbox", "sms"]}, "sms_phone": {"masked": "1*"}}
            for d in (texting, limited)
        ]
    )
    store = RateLimitStore(db)
    window = rate_window(datetime.now(UTC), settings.rate_limit_window_seconds)
    for cause in ("earlier-1", "earlier-2"):
        await store.position(limited, "policy", window, cause)
    operator = token("operator")
    async with serve(create_app(settings)) as http:
        made = await http.post(
            "/v1/broadcasts",
            json=POLICY_TO_EVERYONE,
            headers=operator,
        )
        assert made.status_code == 201, made.text
        bid = made.json()["broadcast_id"]
        path = f"/v1/broadcasts/{bid}"
        done = await wait_until(lambda: completed(http, path, operator), timeout=60)
    assert marker.exists(), "the page must have failed once after its inserts"
    assert done["progress"]["batches_done"] == done["progress"]["batches_total"] == 3
    inbox = await db["notifications"].find({"broadcast_id": bid, "channel": "inbox"}).to_list()
    assert sorted(d["driver_id"] for d in inbox) == drivers, "every inbox exactly once"
    assert {d["_id"] for d in inbox} == {
        broadcast_notification_id(bid, d, "inbox") for d in drivers
    }, "the id alone keeps one per driver and channel"
    indexes = await db["notifications"].index_information()
    assert "one_per_driver_cause_channel" not in indexes, "retired: the _id says the same"
    assert not any(d.get("outbox") for d in inbox), "announced from the page, not an outbox"
    sms = await db["notifications"].find({"broadcast_id": bid, "channel": "sms"}).to_list()
    assert [d["driver_id"] for d in sms] == [texting], "the limited driver gets no SMS"
    collapsed = {d["driver_id"] for d in inbox if d.get("collapsed")}
    assert collapsed == {limited}
    pages = -(-DRIVERS // PAGE)
    wanted = pages if announcements == "page" else DRIVERS
    records = await read_topic(
        infra.kafka_bootstrap, settings.topic("notify.events"), min_records=wanted, timeout=10
    )
    events = [json.loads(r.value or b"") for r in records]
    per_driver = Counter(e["id"] for e in events if e["type"] == "notification.delivered.v1")
    per_page = Counter(
        e["id"] for e in events if e["type"] == "notification.broadcast_delivered.v1"
    )
    if announcements == "driver":
        assert not per_page
        assert set(per_driver) == {f"{d['_id']}.delivered" for d in inbox}
        assert set(per_driver.values()) == {1}, "each announcement id once"
        return
    assert not per_driver, "no per-inbox event when announced per page"
    assert set(per_page) == {f"{bid}:{n}.delivered" for n in range(pages)}
    assert set(per_page.values()) == {1}, "each page's announcement id once"
    named = Counter(
        (d["driver_id"], d["notification_id"])
        for e in events
        if e["type"] == "notification.broadcast_delivered.v1"
        for d in e["data"]["deliveries"]
    )
    assert set(named) == {(d["driver_id"], d["_id"]) for d in inbox}
    assert set(named.values()) == {1}, "every inbox named in exactly one page"


async def test_a_broadcast_made_before_driver_ids_is_fanned_out_under_its_page_ids(
    make_settings: Callable[..., NotifySettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    """An upgrade may find a broadcast half fanned out under the earlier ids (from the page
    place); its pages keep those ids, so a page fanned out again hits what it stored."""
    settings = make_settings(NotifySettings, broadcast_batch_size=PAGE)
    db = mongo[settings.mongo_db]
    drivers = sorted(unique_name("drv_") for _ in range(DRIVERS))
    await db["drivers"].insert_many([{"_id": d, "active": True} for d in drivers])
    operator = token("operator")
    later = datetime.now(UTC) + timedelta(days=1)
    async with serve(create_app(settings)) as http:
        made = await http.post(
            "/v1/broadcasts",
            json={**POLICY_TO_EVERYONE, "scheduled_at": later.isoformat()},
            headers=operator,
        )
        assert made.status_code == 201, made.text
        bid = made.json()["broadcast_id"]
        # As an earlier version stored it: no notification_ids, and due now.
        changed = await db["broadcasts"].update_one(
            {"_id": bid, "notification_ids": "driver"},
            {"$unset": {"notification_ids": ""}, "$set": {"scheduled_at": datetime.now(UTC)}},
        )
        assert changed.modified_count == 1
        path = f"/v1/broadcasts/{bid}"
        await wait_until(lambda: completed(http, path, operator), timeout=60)
    inbox = await db["notifications"].find({"broadcast_id": bid, "channel": "inbox"}).to_list()
    assert {d["_id"] for d in inbox} == {
        paged_notification_id(bid, n // PAGE, n % PAGE, d, "inbox") for n, d in enumerate(drivers)
    }


async def test_bulk_positions_agree_with_one_at_a_time(
    make_settings: Callable[..., NotifySettings], mongo: Any
) -> None:
    store = RateLimitStore(mongo[make_settings(NotifySettings).mongo_db])
    await store.position("a", "policy", 7, "first")
    assert await store.positions(["a", "b"], "policy", 7, "second") == {"a": 1, "b": 0}
    # The same cause again (a page fanned out twice) keeps its place.
    assert await store.positions(["a", "b"], "policy", 7, "second") == {"a": 1, "b": 0}
    assert await store.position("b", "policy", 7, "third") == 1
    assert await store.positions(["a"], "other", 7, "second") == {"a": 0}
