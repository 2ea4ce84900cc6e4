"""A broadcast page carries its drivers' facts from the resolver to the fan-out (issue 19), on
the real broker and store: a fresh page plans from what it carries, less the drivers erased
since and with the drive of anyone an SMS would reach read as it is now; a stale page, or one
made before pages carried facts, reads every driver's facts at fan-out."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.erased_drivers import ErasedDrivers
from common.erasure import keyed_pseudonym
from common.events import new_event
from common.testing import Infra, headers_of, read_topic, unique_name, wait_until
from notify.app import create_app
from notify.fanout import WORK_TOPIC, BroadcastBatch, PageFacts
from notify.records import EVENT_SOURCE
from notify.settings import NotifySettings
from tests.support import produce, serve

FRESH_SECONDS = 60.0
BILINGUAL_POLICY = {
    "category": "policy",
    "segment": {"kind": "everyone"},
    "content": {
        "zh-CN": {"title": "港区新规", "body": "集卡预约规则调整。"},
        "en": {"title": "New port rules", "body": "Truck booking rules change."},
    },
}


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(NotifySettings, broadcast_facts_fresh_seconds=FRESH_SECONDS)


async def _scheduled_broadcast(http: Any, operator: dict[str, str]) -> str:
    """A broadcast due tomorrow: nothing resolves it, the test hands its pages over."""
    later = datetime.now(UTC) + timedelta(days=1)
    made = await http.post(
        "/v1/broadcasts",
        json={**BILINGUAL_POLICY, "scheduled_at": later.isoformat()},
        headers=operator,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["broadcast_id"])


async def _notifications(db: Any, bid: str) -> dict[tuple[str, str], dict[str, Any]]:
    docs = await db["notifications"].find({"broadcast_id": bid}).to_list()
    return {(d["driver_id"], d["channel"]): d for d in docs}


async def test_a_fresh_page_plans_from_its_facts_less_the_erased_and_texting_drivers_as_now(
    settings: NotifySettings, mongo: Any, token: Callable[..., dict[str, str]]
) -> None:
    db = mongo[settings.mongo_db]
    carried, erased, texting, stopped = sorted(unique_name("drv_") for _ in range(4))
    # As the store knows them now: every one speaks Chinese, the texting driver is driving
    # and the stopped driver was deactivated after the page was read.
    driving_until = datetime.now(UTC) + timedelta(hours=1)
    await db["drivers"].insert_many(
        [
            {"_id": carried, "active": True, "language": "zh-CN"},
            {"_id": erased, "active": True, "language": "zh-CN"},
            {"_id": texting, "active": True, "language": "zh-CN", "driving_until": driving_until},
            {"_id": stopped, "active": False, "language": "zh-CN"},
        ]
    )
    sms = {"channels": {"policy": ["inbox", "sms"]}, "sms_phone": {"masked": "1*"}}
    await db["preferences"].insert_many([{"_id": d, **sms} for d in (texting, stopped)])
    await ErasedDrivers(db, keyed_pseudonym(settings.pii_hmac_key)).add(erased)
    page = [carried, erased, texting, stopped]
    async with serve(app := create_app(settings)) as http:
        bid = await _scheduled_broadcast(http, token("operator"))
        # As the resolver read them a moment ago: English speakers, none driving.
        await app.state.notify.broadcasts.fan_out(
            BroadcastBatch(
                broadcast_id=bid,
                batch_no=0,
                driver_ids=page,
                facts=PageFacts(fleet=[None] * len(page), language=["en"] * len(page)),
                read_at=datetime.now(UTC) - timedelta(seconds=5),
            )
        )
    made = await _notifications(db, bid)
    assert made[(carried, "inbox")]["language"] == "en", "planned from the carried facts"
    assert not [k for k in made if k[0] == erased], "an erased driver gets nothing"
    held = made[(texting, "sms")]
    assert held["status"] == "held" and held["hold_reason"] == "driving", "the drive as now"
    assert abs(held["hold_until"] - driving_until) < timedelta(milliseconds=1)
    assert made[(texting, "inbox")]["language"] == "zh-CN", "the texting driver read again"
    assert not [k for k in made if k[0] == stopped], "read again: no longer active"
    assert set(made) == {(carried, "inbox"), (texting, "inbox"), (texting, "sms")}


@pytest.mark.parametrize("age", ["stale", "unfacted"])
async def test_a_stale_page_or_one_without_facts_reads_them_at_fan_out(
    age: str, settings: NotifySettings, mongo: Any, token: Callable[..., dict[str, str]]
) -> None:
    db = mongo[settings.mongo_db]
    speaking, stopped = sorted(unique_name("drv_") for _ in range(2))
    await db["drivers"].insert_many(
        [
            {"_id": speaking, "active": True, "language": "zh-CN"},
            {"_id": stopped, "active": False, "language": "zh-CN"},
        ]
    )
    page = [speaking, stopped]
    carried: dict[str, Any] = (
        {
            "facts": PageFacts(fleet=[None, None], language=["en", "en"]),
            "read_at": datetime.now(UTC) - timedelta(seconds=FRESH_SECONDS + 30),
        }
        if age == "stale"
        else {}
    )
    async with serve(app := create_app(settings)) as http:
        bid = await _scheduled_broadcast(http, token("operator"))
        await app.state.notify.broadcasts.fan_out(
            BroadcastBatch(broadcast_id=bid, batch_no=0, driver_ids=page, **carried)
        )
    made = await _notifications(db, bid)
    assert set(made) == {(speaking, "inbox")}, "the deactivated driver is skipped"
    assert made[(speaking, "inbox")]["language"] == "zh-CN", "the facts as the store has them"


def test_facts_are_used_only_within_the_bound_either_side_of_now() -> None:
    now = datetime.now(UTC)

    def page(read_at: datetime) -> BroadcastBatch:
        return BroadcastBatch(
            broadcast_id="b",
            batch_no=0,
            driver_ids=["a"],
            facts=PageFacts(fleet=["f"], language=["en"]),
            read_at=read_at,
        )

    fresh = page(now - timedelta(seconds=5)).carried_facts(now, FRESH_SECONDS)
    assert fresh is not None and fresh["a"].fleet == "f" and fresh["a"].language == "en"
    for skewed in (now - timedelta(seconds=61), now + timedelta(seconds=61)):
        assert page(skewed).carried_facts(now, FRESH_SECONDS) is None
    assert page(now).carried_facts(now, 0) is None, "0: always read at fan-out"


def test_facts_must_name_every_driver_of_the_page() -> None:
    with pytest.raises(ValueError, match="every driver"):
        BroadcastBatch(
            broadcast_id="b",
            batch_no=0,
            driver_ids=["a", "b"],
            facts=PageFacts(fleet=[None, None], language=[None]),
            read_at=datetime.now(UTC),
        )
    with pytest.raises(ValueError, match="read_at"):
        BroadcastBatch(
            broadcast_id="b",
            batch_no=0,
            driver_ids=["a"],
            facts=PageFacts(fleet=[None], language=[None]),
        )


async def test_the_resolver_puts_each_drivers_facts_in_the_work_item(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Callable[..., dict[str, str]]
) -> None:
    db = mongo[settings.mongo_db]
    drivers = sorted(unique_name("drv_") for _ in range(3))
    await db["drivers"].insert_many(
        [
            {"_id": drivers[0], "active": True, "fleet": "宁波远航物流", "language": "en"},
            {"_id": drivers[1], "active": True, "grade": "AAA"},
            {"_id": drivers[2], "active": False, "fleet": "宁波远航物流"},
        ]
    )
    operator = token("operator")
    async with serve(create_app(settings)) as http:
        made = await http.post("/v1/broadcasts", json=BILINGUAL_POLICY, headers=operator)
        assert made.status_code == 201, made.text
        bid = made.json()["broadcast_id"]

        async def completed() -> bool:
            answer = (await http.get(f"/v1/broadcasts/{bid}", headers=operator)).json()
            return answer["status"] == "completed"

        await wait_until(completed, timeout=60)
    records = await read_topic(
        infra.kafka_bootstrap, settings.topic(WORK_TOPIC), min_records=1, timeout=10
    )
    items = [json.loads(r.value or b"")["data"] for r in records]
    [item] = [i for i in items if i["broadcast_id"] == bid]
    assert item["driver_ids"] == drivers[:2], "active drivers only, in id order"
    assert item["facts"] == {"fleet": ["宁波远航物流", None], "language": ["en", None]}
    assert datetime.fromisoformat(item["read_at"]) <= datetime.now(UTC)
    made_for = await _notifications(db, bid)
    assert made_for[(drivers[0], "inbox")]["language"] == "en"
    assert set(made_for) == {(drivers[0], "inbox"), (drivers[1], "inbox")}


@pytest.mark.expects_dlq("invalid_data")
async def test_a_work_item_whose_facts_do_not_match_its_drivers_is_dead_lettered(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Callable[..., dict[str, str]]
) -> None:
    """Planned from facts that name other drivers, a page would give one driver another's
    language or a partner's webhook: such an item is refused whole, kept in the DLQ with why."""
    db = mongo[settings.mongo_db]
    drivers = sorted(unique_name("drv_") for _ in range(2))
    await db["drivers"].insert_many([{"_id": d, "active": True} for d in drivers])
    async with serve(create_app(settings)) as http:
        bid = await _scheduled_broadcast(http, token("operator"))
        event = new_event(
            BroadcastBatch(
                broadcast_id=bid,
                batch_no=0,
                driver_ids=drivers,
                facts=PageFacts(fleet=[None, None], language=["en", "en"]),
                read_at=datetime.now(UTC),
            ),
            source=EVENT_SOURCE,
            subject=f"{bid}:0",
            event_id=f"{bid}:0",
        )
        envelope = json.loads(event.to_bytes())
        envelope["data"]["facts"]["language"] = ["en"]  # one short: whose is it?
        forged = json.dumps(envelope).encode()
        topic = settings.topic(WORK_TOPIC)
        await produce(infra.kafka_bootstrap, topic, forged, key=f"{bid}:0".encode())
        letters = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", min_records=1, timeout=30)
    [letter] = letters
    assert headers_of(letter)["dlq-reason"] == "invalid_data"
    assert "facts must name every driver" in headers_of(letter)["dlq-error"]
    assert letter.value == forged, "kept as it came"
    assert await db["notifications"].count_documents({"broadcast_id": bid}) == 0
