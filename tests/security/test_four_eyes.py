"""Four eyes in points (issue 14, "One god role"): a large adjustment, an earning-rule change
and a reservation for a driver each wait for a second person, on the real store and broker.

Each flow: the maker cannot approve their own request (403), a checker without the area's scope
cannot either (403), an approval executes once however often it is asked or swept, a refusal
executes nothing, and what stays below the threshold works as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from common.events import new_event
from common.events.registry import DriverDeactivated
from common.testing import Infra, unique_name, wait_until
from points.app import create_app
from points.settings import PointsSettings
from tests.support import approved, produce, serve

Token = Callable[..., dict[str, str]]


def person(token: Token, sub: str, *scopes: str) -> dict[str, str]:
    return token("operator", sub=sub, scope=" ".join(scopes))


async def balance(app: Any, driver_id: str) -> int:
    account = await app.state.service.get_account(driver_id)
    assert await app.state.service.ledger.entries.sum_applied(driver_id) == account.balance
    return int(account.balance)


async def test_an_adjustment_above_the_threshold_waits_for_a_second_operator_and_applies_once(
    make_settings: Callable[..., PointsSettings], token: Token
) -> None:
    app = create_app(make_settings(PointsSettings, adjustment_approval_threshold=500))
    maker = person(token, "op-maker", "points:adjust", "points:approve")
    checker = person(token, "op-checker", "points:approve")
    clerk = person(token, "op-clerk", "points:adjust")
    driver = unique_name("drv_")
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        url = f"/v1/accounts/{driver}/adjustments"
        small = await http.post(url, json={"amount": 500, "reason": "补录积分"}, headers=maker)
        big = await http.post(url, json={"amount": 501, "reason": "补录培训积分"}, headers=maker)
        assert (small.status_code, big.status_code) == (201, 202), big.text
        assert await balance(app, driver) == 500, "nothing above the threshold applied yet"
        pending = big.json()
        assert big.headers["Location"] == f"/v1/approvals/{pending['approval_id']}"
        approve = f"/v1/approvals/{pending['approval_id']}/approve"

        own = await http.post(approve, headers=maker)
        unscoped = await http.post(approve, headers=clerk)
        queue = await http.get("/v1/approvals?area=adjustment", headers=checker)
        queue_for_clerk = await http.get("/v1/approvals?area=adjustment", headers=clerk)
        # The driver an adjustment is about does not decide it, nor read its reasons.
        as_subject = token("driver", driver_id=driver)
        queue_for_driver = [
            await http.get(f"/v1/approvals?area=adjustment&state={state}", headers=as_subject)
            for state in ("pending", "executed", "refused")
        ]
        single_for_driver = await http.get(
            f"/v1/approvals/{pending['approval_id']}", headers=as_subject
        )
        first = await http.post(approve, json={"note": "核实无误"}, headers=checker)
        again = await http.post(approve, headers=checker)
        late = await http.post(approve, headers=person(token, "op-third", "points:approve"))

        refused_one = await http.post(
            url, json={"amount": -900, "reason": "违规扣分"}, headers=maker
        )
        refuse = f"/v1/approvals/{refused_one.json()['approval_id']}/refuse"
        refused = await http.post(refuse, json={"reason": "无依据"}, headers=checker)
        after_refusal = await http.post(
            f"/v1/approvals/{refused_one.json()['approval_id']}/approve", headers=checker
        )
        # Two checkers at once: one decides, the other is told it was decided.
        raced = await http.post(url, json={"amount": 600, "reason": "补录积分"}, headers=maker)
        race = f"/v1/approvals/{raced.json()['approval_id']}/approve"
        both = await asyncio.gather(
            http.post(race, headers=checker),
            http.post(race, headers=person(token, "op-fourth", "points:approve")),
        )
        final = await balance(app, driver)

    assert own.status_code == 403 and own.json()["code"] == "maker_is_checker"
    assert own.headers["content-type"] == "application/problem+json"
    assert unscoped.status_code == 403 and unscoped.json()["missing_scope"] == "points:approve"
    assert [r["approval_id"] for r in queue.json()["items"]] == [pending["approval_id"]]
    assert queue_for_clerk.status_code == 403
    assert [r.status_code for r in queue_for_driver] == [403, 403, 403]
    assert pending["approval_id"] not in "".join(r.text for r in queue_for_driver)
    assert single_for_driver.status_code == 404
    assert first.status_code == 200 and first.json()["state"] == "executed"
    assert first.json()["result"]["amount"] == 501
    assert again.json()["result"] == first.json()["result"]
    assert late.status_code == 409
    steps = [(s["step"], s["by"]) for s in first.json()["audit"]]
    assert steps == [("proposed", "op-maker"), ("approved", "op-checker"), ("executed", "system")]
    assert refused.json()["state"] == "refused" and after_refusal.status_code == 409
    assert sorted(answer.status_code for answer in both) == [200, 409]
    assert final == 500 + 501 + 600, "each approved once, the refused never"


async def test_an_approval_interrupted_before_or_during_its_command_is_finished_once(
    make_settings: Callable[..., PointsSettings], token: Token, mongo: Any
) -> None:
    settings = make_settings(PointsSettings, adjustment_approval_threshold=10)
    app = create_app(settings)
    maker = person(token, "op-maker", "points:adjust")
    driver = unique_name("drv_")
    approvals = mongo[settings.mongo_db]["approvals"]
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        url = f"/v1/accounts/{driver}/adjustments"
        ids = [
            (await http.post(url, json={"amount": 40, "reason": f"补录{n}"}, headers=maker)).json()[
                "approval_id"
            ]
            for n in range(2)
        ]
        # What a crash right after the checker's decision leaves: approved, never run.
        decided = {"state": "approved", "checker": "op-checker", "decided_at": datetime.now(UTC)}
        for approval_id in ids:
            await approvals.update_one({"_id": approval_id}, {"$set": decided})
        # And one that crashed after its command took effect but before it was marked executed.
        during = await app.state.approvals.get(ids[1])
        await app.state.approvals.areas["adjustment"].run(during)

        async def all_executed() -> bool:
            return await approvals.count_documents({"_id": {"$in": ids}, "state": "executed"}) == 2

        await wait_until(all_executed)  # the sweeper finishes both
        assert await app.state.approvals.finish_approved() == 0
        final = await balance(app, driver)
    assert final == 80


async def test_an_earning_rule_change_takes_effect_only_once_a_second_person_approves(
    make_settings: Callable[..., PointsSettings], token: Token
) -> None:
    app = create_app(make_settings(PointsSettings))
    maker = person(token, "op-rules-1", "rules:manage")
    checker = person(token, "op-rules-2", "rules:manage")
    auditor = person(token, "op-audit", "points:read", "points:approve")
    rule = {"name": "安全驾驶月", "event_type": "safety.milestone.v1", "points": 30}
    async with serve(app) as http:
        proposed = await http.put("/v1/rules/safe-month", json=rule, headers=maker)
        invalid = await http.put(
            "/v1/rules/safe-month", json={**rule, "event_type": "points.awarded.v1"}, headers=maker
        )
        before = await http.get("/v1/rules/safe-month/versions", headers=token())
        approve = f"/v1/approvals/{proposed.json()['approval_id']}/approve"
        own = await http.post(approve, headers=maker)
        unscoped = await http.post(approve, headers=auditor)
        done = [await http.post(approve, headers=checker) for _ in range(2)]
        second = await http.put("/v1/rules/safe-month", json={**rule, "points": 90}, headers=maker)
        await http.post(
            f"/v1/approvals/{second.json()['approval_id']}/refuse",
            json={"reason": "积分过高"},
            headers=checker,
        )
        after = await http.get("/v1/rules/safe-month/versions", headers=token())
    assert proposed.status_code == 202 and invalid.status_code == 422
    assert before.status_code == 404, "nothing saved while pending"
    assert own.status_code == 403 and own.json()["code"] == "maker_is_checker"
    assert unscoped.status_code == 403 and unscoped.json()["missing_scope"] == "rules:manage"
    assert [d.json()["result"] for d in done] == [{"rule_id": "safe-month", "version": 1}] * 2
    versions = after.json()
    assert [(v["version"], v["spec"]["points"], v["created_by"]) for v in versions] == [
        (1, 30, "op-rules-1")
    ]


async def test_an_operator_reserves_a_reward_for_a_driver_only_with_the_drivers_confirmation(
    make_settings: Callable[..., PointsSettings], token: Token
) -> None:
    app = create_app(make_settings(PointsSettings))
    operator = person(token, "op-mall", "mall:manage")
    driver, stranger = unique_name("drv_"), unique_name("drv_")
    as_driver = token("driver", driver_id=driver)
    async with serve(app) as http:
        service, mall = app.state.service, app.state.mall
        await service.open_account(driver, datetime.now(UTC))
        await service.adjust(driver, 300, operator="op-x", reason="起始积分", request_id="seed")
        reward_id = unique_name("rw-")
        await mall.catalogue.add_reward(
            reward_id,
            {
                "name": "保温杯",
                "category": "daily goods",
                "cost": 100,
                "stock": 5,
                "channel": "online",
                "counters": [],
                "description": None,
            },
        )
        order = {"reward_id": reward_id, "driver_id": driver}
        asked = await http.post("/v1/redemptions", json=order, headers=operator)
        unconfirmed = await balance(app, driver)
        approval_id = asked.json()["approval_id"]
        approve = f"/v1/approvals/{approval_id}/approve"
        by_operator = await http.post(approve, headers=person(token, "op-2", "mall:manage"))
        by_stranger = await http.post(approve, headers=token("driver", driver_id=stranger))
        mine = await http.get("/v1/approvals?area=redemption", headers=as_driver)
        confirmed = [await http.post(approve, headers=as_driver) for _ in range(2)]
        declined = await http.post("/v1/redemptions", json=order, headers=operator)
        refused = await http.post(
            f"/v1/approvals/{declined.json()['approval_id']}/refuse",
            json={"reason": "我没有要求兑换"},
            headers=as_driver,
        )
        final = await balance(app, driver)
        redemptions = await mall.redemptions_page(
            driver_id=driver, state=None, after=None, limit=10
        )
    assert asked.status_code == 202 and unconfirmed == 300
    assert by_operator.status_code == 403 and by_stranger.status_code == 403
    assert [r["approval_id"] for r in mine.json()["items"]] == [approval_id]
    assert [c.json()["state"] for c in confirmed] == ["executed", "executed"]
    assert "code" not in confirmed[0].json()["result"]
    assert refused.json()["state"] == "refused"
    assert final == 200, "one reservation, confirmed by the driver; the refused one took nothing"
    assert [r.redemption_id for r in redemptions] == [
        confirmed[0].json()["result"]["redemption_id"]
    ]


async def test_an_erased_drivers_requests_keep_the_decisions_but_not_the_driver(
    infra: Infra, make_settings: Callable[..., PointsSettings], token: Token, mongo: Any
) -> None:
    settings = make_settings(PointsSettings, adjustment_approval_threshold=10)
    driver = unique_name("drv_")
    approvals = mongo[settings.mongo_db]["approvals"]
    erased = new_event(
        DriverDeactivated(
            driver_id=driver, deactivated_at=datetime.now(UTC), reason="on_request", erased=True
        ),
        source="driverhome/registry",
        subject=driver,
    )
    app = create_app(settings)
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        asked = await http.post(
            f"/v1/accounts/{driver}/adjustments",
            json={"amount": 40, "reason": "补录骆振国的培训积分"},
            headers=person(token, "op-maker", "points:adjust"),
        )
        await approved(http, asked, person(token, "op-checker", "points:approve"))
        await produce(
            infra.kafka_bootstrap,
            settings.topic("registry.events"),
            erased.to_bytes(),
            key=driver.encode(),
        )

        async def forgotten() -> Any:
            return await approvals.find_one({"subject": {"$ne": driver}, "area": "adjustment"})

        doc = await wait_until(forgotten)
    text = json.dumps(doc, default=str, ensure_ascii=False)
    assert driver not in text and "骆振国" not in text
    assert doc["state"] == "executed"
    assert [s["by"] for s in doc["audit"]] == ["op-maker", "op-checker", "system"]
