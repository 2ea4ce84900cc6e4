"""The points mall on the real broker and store: never oversold, never lost, returned once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from common.events import CloudEvent, new_event
from common.events.registry import DriverDeactivated
from common.testing import Infra, read_topic, synthetic_phone, unique_name, wait_until
from points.app import create_app
from points.domain import InsufficientPoints
from points.mall import Mall
from points.rewards import OutOfStock
from points.service import PointsService
from points.settings import PointsSettings
from tests.integration.test_points_ledger import send
from tests.support import serve

COUNTER = "counter-03"


def parts(app: FastAPI) -> tuple[PointsService, Mall]:
    return app.state.service, app.state.mall


async def driver_with(service: PointsService, points: int, *, fleet: str | None = None) -> str:
    driver_id = unique_name("drv_")
    await service.open_account(driver_id, datetime.now(UTC), fleet=fleet)
    if points:
        entry = await service.adjust(
            driver_id, points, operator="op-test", reason="starting points", request_id="seed"
        )
        assert entry.state == "applied"
    return driver_id


async def add_reward(
    mall: Mall, *, cost: int, stock: int, channel: str = "online", counters: list[str] | None = None
) -> str:
    reward_id = unique_name("rw-")
    await mall.catalogue.add_reward(
        reward_id,
        {
            "name": "保温杯",
            "category": "daily goods",
            "cost": cost,
            "stock": stock,
            "channel": channel,
            "counters": counters or [],
            "description": None,
        },
    )
    return reward_id


async def ledger_of(service: PointsService, driver_id: str, kind: str) -> list[Any]:
    cursor = service.ledger.entries.collection.find(
        {"driver_id": driver_id, "kind": kind, "state": "applied"}
    )
    return [doc async for doc in cursor]


async def assert_balanced(service: PointsService, driver_id: str, balance: int) -> None:
    account = await service.get_account(driver_id)
    assert account.balance == balance
    assert await service.ledger.entries.sum_applied(driver_id) == balance


async def test_a_thousand_concurrent_redemptions_against_a_balance_for_ten_give_exactly_ten(
    make_settings: Callable[..., PointsSettings],
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app):
        service, mall = parts(app)
        driver_id = await driver_with(service, 1000)
        reward_id = await add_reward(mall, cost=100, stock=2000)
        gate = asyncio.Semaphore(50)

        async def attempt() -> str:
            async with gate:
                try:
                    reservation = await mall.reserve(driver_id, reward_id)
                except InsufficientPoints:
                    return "refused early"
                return reservation.redemption.state

        outcomes = await asyncio.gather(*(attempt() for _ in range(1000)))

        assert outcomes.count("reserved") == 10
        assert set(outcomes) <= {"reserved", "failed", "refused early"}
        await assert_balanced(service, driver_id, 0)
        assert len(await ledger_of(service, driver_id, "redemption")) == 10
        reward = await mall.catalogue.reward(reward_id)
        assert (reward.stock, reward.held) == (1990, 10)
        failed = await mall.steps.redemptions.collection.count_documents(
            {"driver_id": driver_id, "state": "failed"}
        )
        assert failed == outcomes.count("failed")


async def test_stock_of_five_with_fifty_concurrent_orders_gives_five_and_leaves_the_rest_untouched(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        drivers = [await driver_with(service, 500) for _ in range(50)]
        reward_id = await add_reward(mall, cost=300, stock=5, channel="counter", counters=[COUNTER])
        gate = asyncio.Semaphore(25)

        async def order(driver_id: str) -> tuple[str, int]:
            async with gate:
                answer = await http.post(
                    "/v1/redemptions",
                    json={"reward_id": reward_id},
                    headers=token("driver", driver_id=driver_id),
                )
                return driver_id, answer.status_code

        results = await asyncio.gather(*(order(d) for d in drivers))

        winners = [d for d, status in results if status == 201]
        losers = [d for d, status in results if status != 201]
        assert len(winners) == 5
        assert {status for _, status in results if status != 201} == {409}
        for driver_id in winners:
            await assert_balanced(service, driver_id, 200)
        for driver_id in losers:
            await assert_balanced(service, driver_id, 500)
            assert await ledger_of(service, driver_id, "redemption") == []
        reward = await mall.catalogue.reward(reward_id)
        assert (reward.stock, reward.held) == (0, 5)


async def test_cancelling_twice_at_once_refunds_the_points_and_returns_the_unit_exactly_once(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        driver_id = await driver_with(service, 250)
        reward_id = await add_reward(mall, cost=200, stock=3)
        reservation = await mall.reserve(driver_id, reward_id)
        rid = reservation.redemption.redemption_id
        await assert_balanced(service, driver_id, 50)

        by_driver, by_operator = await asyncio.gather(
            http.post(
                f"/v1/redemptions/{rid}/cancel",
                json={"reason": "changed my mind"},
                headers=token("driver", driver_id=driver_id),
            ),
            mall.cancel(rid, by="op-7", reason="the driver phoned"),
        )

        assert by_driver.status_code == 200, by_driver.text
        assert by_driver.json()["state"] == by_operator.state == "cancelled"
        await assert_balanced(service, driver_id, 250)
        refunds = await ledger_of(service, driver_id, "reversal")
        assert len(refunds) == 1 and refunds[0]["amount"] == 200
        reward = await mall.catalogue.reward(reward_id)
        assert (reward.stock, reward.held) == (3, 0)
        again = await http.post(
            f"/v1/redemptions/{rid}/cancel", headers=token("driver", driver_id=driver_id)
        )
        assert again.status_code == 200
        assert len(await ledger_of(service, driver_id, "reversal")) == 1
        assert (await mall.catalogue.reward(reward_id)).stock == 3


async def test_a_cancellers_own_words_stay_on_the_redemption_never_in_the_refund_or_after_erasure(
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    infra: Infra,
    mongo: Any,
) -> None:
    """The refund's reason reaches the ledger and points.events (every consumer): it names the
    redemption only. What the driver wrote stays on the redemption, and erasure removes it."""
    settings = make_settings(PointsSettings)
    app = create_app(settings)
    phone = synthetic_phone()
    words = f"不要了，有事打{phone}"
    async with serve(app) as http:
        service, mall = parts(app)
        driver_id = await driver_with(service, 250)
        reward_id = await add_reward(mall, cost=200, stock=3)
        rid = (await mall.reserve(driver_id, reward_id)).redemption.redemption_id
        cancelled = await http.post(
            f"/v1/redemptions/{rid}/cancel",
            json={"reason": words},
            headers=token("driver", driver_id=driver_id),
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancel_reason"] == f"redemption {rid} cancelled: {words}"
        [refund] = await ledger_of(service, driver_id, "reversal")
        assert phone not in str(refund)

        async def announced() -> list[Any] | None:
            records = await read_topic(infra.kafka_bootstrap, settings.topic("points.events"))
            events = [json.loads(r.value) for r in records]
            found = [e for e in events if e["type"] == "points.reversed.v1"]
            return [e for e in found if e["subject"] == driver_id] or None

        [reversal] = await wait_until(announced)
        assert reversal["data"]["reason"] == f"redemption {rid} cancelled"
        assert phone not in json.dumps(reversal, ensure_ascii=False)

        await send(infra, settings, "registry.events", erased(driver_id))
        redemptions = mongo[settings.mongo_db]["redemptions"]

        async def forgotten() -> Any:
            doc = await redemptions.find_one({"_id": rid})
            return doc if doc and doc["driver_id"] != driver_id else None

        kept = await wait_until(forgotten, timeout=60)
        assert phone not in str(kept) and "cancel_note" not in kept


def erased(driver_id: str) -> CloudEvent:
    data = DriverDeactivated(
        driver_id=driver_id, deactivated_at=datetime.now(UTC), reason="erasure", erased=True
    )
    return new_event(data, source="driverhome/registry", subject=driver_id)


async def test_expiry_run_twice_at_once_refunds_and_restocks_exactly_once(
    make_settings: Callable[..., PointsSettings],
) -> None:
    app = create_app(make_settings(PointsSettings, reservation_days=7))
    async with serve(app):
        service, mall = parts(app)
        driver_id = await driver_with(service, 100)
        reward_id = await add_reward(mall, cost=100, stock=1)
        keep_id = await add_reward(mall, cost=1, stock=1)
        overdue = (await mall.reserve(driver_id, reward_id)).redemption
        assert overdue.expires_at is not None
        assert overdue.expires_at - overdue.created_at >= timedelta(days=7)
        await service.adjust(driver_id, 1, operator="op", reason="one more", request_id="extra")
        current = (await mall.reserve(driver_id, keep_id)).redemption
        await mall.steps.redemptions.collection.update_one(
            {"_id": overdue.redemption_id},
            {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
        )

        await asyncio.gather(mall.expire_due(), mall.expire_due())

        assert (await mall.redemption(overdue.redemption_id)).state == "expired"
        assert (await mall.redemption(current.redemption_id)).state == "reserved"
        await assert_balanced(service, driver_id, 100)
        refunds = await ledger_of(service, driver_id, "reversal")
        assert [r["reverses"] for r in refunds] == [overdue.entry_id]
        returned = await mall.catalogue.reward(reward_id)
        assert (returned.stock, returned.held) == (1, 0)
        assert (await mall.catalogue.reward(keep_id)).held == 1


async def test_a_counter_hands_over_once_against_the_code_and_only_at_its_own_counter(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        driver_id = await driver_with(service, 120)
        reward_id = await add_reward(
            mall, cost=120, stock=2, channel="counter", counters=[COUNTER, "counter-07"]
        )
        reserved = await http.post(
            "/v1/redemptions",
            json={"reward_id": reward_id},
            headers=token("driver", driver_id=driver_id),
        )
        assert reserved.status_code == 201, reserved.text
        rid, code = reserved.json()["redemption_id"], reserved.json()["code"]
        assert code and len(code.replace("-", "")) == 10
        stored = await mall.steps.redemptions.collection.find_one({"_id": rid})
        assert stored is not None and code not in str(stored)
        listed = await http.get("/v1/redemptions", headers=token("driver", driver_id=driver_id))
        assert "code" not in listed.json()["items"][0]

        at_counter = token("station", station_id=COUNTER)
        elsewhere = await http.post(
            f"/v1/redemptions/{rid}/fulfil",
            json={"code": code},
            headers=token("station", station_id="counter-09"),
        )
        wrong = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": "AAAAA-AAAAA"}, headers=at_counter
        )
        by_driver = await http.post(
            f"/v1/redemptions/{rid}/fulfil",
            json={"code": code},
            headers=token("driver", driver_id=driver_id),
        )
        handed = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": code.lower()}, headers=at_counter
        )
        reused = await http.post(
            f"/v1/redemptions/{rid}/fulfil",
            json={"code": code},
            headers=token("station", station_id="counter-07"),
        )
        cancel_after = await http.post(
            f"/v1/redemptions/{rid}/cancel", headers=token("driver", driver_id=driver_id)
        )
        # Nor can the ledger refund it: the points would come back for a reward handed over.
        [paid] = await ledger_of(service, driver_id, "redemption")
        refund_after = await http.post(
            "/v1/reversals",
            json={"entry_id": paid["_id"], "reason": "司机称未收到"},
            headers=token("operator", scope="points:adjust"),
        )

        assert elsewhere.status_code == 403
        assert wrong.status_code == 422
        assert by_driver.status_code == 403
        assert handed.status_code == 200, handed.text
        assert handed.json()["state"] == "fulfilled"
        assert handed.json()["fulfilled_at_counter"] == COUNTER
        assert reused.status_code == 409
        assert cancel_after.status_code == 409
        assert refund_after.status_code == 409, refund_after.text
        assert "/cancel" in refund_after.json()["detail"]
        assert await ledger_of(service, driver_id, "reversal") == []
        reward = await mall.catalogue.reward(reward_id)
        assert (reward.stock, reward.held, reward.issued) == (1, 0, 1)
        await assert_balanced(service, driver_id, 0)


async def test_five_wrong_codes_lock_a_redemption_until_the_driver_gets_a_new_code(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        driver_id = await driver_with(service, 50)
        reward_id = await add_reward(mall, cost=50, stock=1, channel="counter", counters=[COUNTER])
        reservation = await mall.reserve(driver_id, reward_id)
        rid, old_code = reservation.redemption.redemption_id, reservation.code
        at_counter = token("station", station_id=COUNTER)
        for _ in range(5):
            answer = await http.post(
                f"/v1/redemptions/{rid}/fulfil", json={"code": "00000-00000"}, headers=at_counter
            )
            assert answer.status_code == 422
        locked = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": old_code}, headers=at_counter
        )
        fresh = await http.post(
            f"/v1/redemptions/{rid}/code", headers=token("driver", driver_id=driver_id)
        )
        stale = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": old_code}, headers=at_counter
        )
        handed = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": fresh.json()["code"]}, headers=at_counter
        )

        assert locked.status_code == 423
        assert fresh.status_code == 200
        assert stale.status_code == 422
        assert handed.status_code == 200 and handed.json()["state"] == "fulfilled"


async def test_guesses_sent_at_once_get_five_tries_between_them(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    """Each try takes one of the five before its code is compared: guesses sent at the same
    moment cannot all be compared against the count one read saw."""
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        driver_id = await driver_with(service, 50)
        reward_id = await add_reward(mall, cost=50, stock=1, channel="counter", counters=[COUNTER])
        reservation = await mall.reserve(driver_id, reward_id)
        rid = reservation.redemption.redemption_id
        at_counter = token("station", station_id=COUNTER)
        guesses = [f"{n:05d}-00000" for n in range(9)]
        answers = await asyncio.gather(
            *(
                http.post(f"/v1/redemptions/{rid}/fulfil", json={"code": g}, headers=at_counter)
                for g in guesses
            )
        )
        right = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": reservation.code}, headers=at_counter
        )
    assert sorted(a.status_code for a in answers) == [422] * 5 + [423] * 4
    assert right.status_code == 423, "locked until the driver asks for a new code"


async def test_a_retried_reservation_with_the_same_key_is_the_same_redemption_with_a_new_code(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        driver_id = await driver_with(service, 400)
        reward_id = await add_reward(mall, cost=100, stock=5, channel="counter", counters=[COUNTER])
        other_id = await add_reward(mall, cost=100, stock=5)
        as_driver = {**token("driver", driver_id=driver_id), "Idempotency-Key": "order-1"}

        first, second = await asyncio.gather(
            http.post("/v1/redemptions", json={"reward_id": reward_id}, headers=as_driver),
            http.post("/v1/redemptions", json={"reward_id": reward_id}, headers=as_driver),
        )
        third = await http.post("/v1/redemptions", json={"reward_id": reward_id}, headers=as_driver)
        other = await http.post("/v1/redemptions", json={"reward_id": other_id}, headers=as_driver)

        assert sorted([first.status_code, second.status_code]) == [200, 201]
        assert third.status_code == 200
        rids = {a.json()["redemption_id"] for a in (first, second, third)}
        assert len(rids) == 1
        assert other.status_code == 422
        await assert_balanced(service, driver_id, 300)
        assert len(await ledger_of(service, driver_id, "redemption")) == 1
        assert (await mall.catalogue.reward(reward_id)).held == 1
        rid = rids.pop()
        at_counter = token("station", station_id=COUNTER)
        stale = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": first.json()["code"]}, headers=at_counter
        )
        latest = await http.post(
            f"/v1/redemptions/{rid}/fulfil", json={"code": third.json()["code"]}, headers=at_counter
        )
        assert stale.status_code == 422
        assert latest.status_code == 200


async def test_drivers_see_only_their_own_redemptions_and_operators_manage_the_catalogue(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        service, mall = parts(app)
        owner = await driver_with(service, 100)
        stranger = await driver_with(service, 100)
        operator = token("operator")
        created = await http.post(
            "/v1/rewards",
            json={
                "reward_id": "mall-tea-01",
                "name": "龙井茶",
                "category": "food",
                "cost": 80,
                "stock": 2,
                "channel": "counter",
                "counters": [COUNTER],
            },
            headers=operator,
        )
        by_driver = await http.post(
            "/v1/rewards",
            json={
                "reward_id": "x",
                "name": "x",
                "category": "x",
                "cost": 1,
                "stock": 1,
                "channel": "online",
            },
            headers=token("driver", driver_id=owner),
        )
        no_counters = await http.post(
            "/v1/rewards",
            json={
                "reward_id": "y",
                "name": "y",
                "category": "y",
                "cost": 1,
                "stock": 1,
                "channel": "counter",
            },
            headers=operator,
        )
        restocked = await http.post(
            "/v1/rewards/mall-tea-01/stock",
            json={"delta": 3, "reason": "delivery"},
            headers=operator,
        )
        overdrawn = await http.post(
            "/v1/rewards/mall-tea-01/stock",
            json={"delta": -10, "reason": "count"},
            headers=operator,
        )
        reserved = await http.post(
            "/v1/redemptions",
            json={"reward_id": "mall-tea-01", "counter_id": COUNTER},
            headers=token("driver", driver_id=owner),
        )
        for_other = await http.post(
            "/v1/redemptions",
            json={"reward_id": "mall-tea-01", "driver_id": stranger},
            headers=token("driver", driver_id=owner),
        )
        rid = reserved.json()["redemption_id"]
        peeked = await http.get(
            f"/v1/redemptions/{rid}", headers=token("driver", driver_id=stranger)
        )
        their_cancel = await http.post(
            f"/v1/redemptions/{rid}/cancel", headers=token("driver", driver_id=stranger)
        )
        station_list = await http.get(
            "/v1/redemptions", headers=token("station", station_id=COUNTER)
        )
        seen_by_operator = await http.get("/v1/rewards/mall-tea-01", headers=operator)
        seen_by_driver = await http.get(
            "/v1/rewards/mall-tea-01", headers=token("driver", driver_id=stranger)
        )
        withdrawn = await http.delete("/v1/rewards/mall-tea-01", headers=operator)
        browsed = await http.get("/v1/rewards", headers=token("driver", driver_id=stranger))
        after_withdrawal = await http.post(
            "/v1/redemptions",
            json={"reward_id": "mall-tea-01"},
            headers=token("driver", driver_id=stranger),
        )

        assert created.status_code == 201 and created.json()["stock"] == 2
        assert by_driver.status_code == 403
        assert no_counters.status_code == 422
        assert restocked.json()["stock"] == 5
        assert overdrawn.status_code == 409
        assert reserved.status_code == 201
        assert for_other.status_code == 403
        assert peeked.status_code == 404
        assert their_cancel.status_code == 404
        assert station_list.status_code == 403
        assert seen_by_operator.json()["held"] == 1 and seen_by_operator.json()["stock"] == 4
        assert "held" not in seen_by_driver.json() and seen_by_driver.json()["stock"] == 4
        assert withdrawn.status_code == 204
        assert "mall-tea-01" not in [r["reward_id"] for r in browsed.json()["items"]]
        assert after_withdrawal.status_code == 404
        assert (await mall.redemption(rid)).state == "reserved"


async def test_the_catalogue_pages_with_a_cursor(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        _, mall = parts(app)
        made = sorted([await add_reward(mall, cost=10, stock=1) for _ in range(5)])
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await http.get(
                "/v1/rewards", params=params, headers=token("driver", driver_id="d")
            )
            seen += [r["reward_id"] for r in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == made


async def test_an_out_of_stock_reward_is_refused_before_anything_is_taken(
    make_settings: Callable[..., PointsSettings],
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app):
        service, mall = parts(app)
        driver_id = await driver_with(service, 100)
        reward_id = await add_reward(mall, cost=10, stock=0)
        try:
            await mall.reserve(driver_id, reward_id)
        except OutOfStock:
            pass
        else:
            raise AssertionError("an empty reward was reserved")
        await assert_balanced(service, driver_id, 100)
