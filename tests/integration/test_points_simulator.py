"""The earning-rule simulator over HTTP on the real broker and store: what it answers is what
the same event then earns through Kafka (rule, points, caps), it explains a refusal, it writes
nothing, and it is refused to those without points:read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.testing import Infra, unique_name, wait_until
from points.app import create_app
from points.consents import EarningConsent
from points.settings import PointsSettings
from tests.integration.test_points_ledger import balance_is, send, volunteer
from tests.support import serve

VOLUNTEER = "volunteer.logged.v1"
TOPIC = "partner.volunteer-team.events"


def asked(driver: str, hours: float, **extra: Any) -> dict[str, Any]:
    data = {"activity": "港区道路清洁", "hours": hours}
    return {"event_type": VOLUNTEER, "driver_id": driver, "data": data, **extra}


async def test_the_simulator_answers_what_the_real_event_then_awards_caps_included(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    mongo: Any,
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    auditor = token(roles=["auditor"])
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        ledger = mongo[settings.mongo_db]["ledger"]

        async def decided(count: int) -> dict[str, Any] | None:
            """The newest entry once the real event was decided (applied or rejected)."""
            entries = await ledger.find({"driver_id": driver}).sort("created_at", -1).to_list()
            done = len(entries) == count and entries[0]["state"] != "pending"
            return entries[0] if done else None

        # Volunteering earns 10 a hour, at most 80 a day: 30, then 70 cut to 50, then nothing.
        expected = [(3, "awarded", 30, 0), (7, "awarded", 50, 30), (1, "capped", 0, 80)]
        for count, (hours, outcome, points, earned_before) in enumerate(expected, start=1):
            body = asked(driver, hours)
            answer = await http.post("/v1/rules/simulate", json=body, headers=auditor)
            assert answer.status_code == 200, answer.text
            sim = answer.json()
            assert (sim["outcome"], sim["points"]) == (outcome, points), sim
            assert sim["rule"]["rule_id"] == "volunteer" and sim["rule"]["cap_per_day"] == 80
            assert sim["caps"]["earned_today"] == earned_before
            await send(infra, settings, TOPIC, volunteer(driver, hours=hours))
            entry = await wait_until(lambda n=count: decided(n))
            # The real event was decided the same way: same rule, same points, same refusal.
            assert entry["rule_id"] == sim["rule"]["rule_id"]
            if outcome == "awarded":
                assert (entry["state"], entry["amount"]) == ("applied", points)
                assert entry["balance_after"] == sim["balance_after"]
            else:
                assert (entry["state"], entry["detail"]["rejected"]) == ("rejected", sim["reason"])
        assert await balance_is(mongo, settings, driver, 80)


async def test_the_simulator_explains_why_nothing_is_earned_and_writes_nothing(
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    mongo: Any,
) -> None:
    settings = make_settings(PointsSettings)
    app = create_app(settings)
    known, unknown, paused = (unique_name("drv_") for _ in range(3))
    operator = token(roles=["points_admin"])
    db = mongo[settings.mongo_db]
    async with serve(app) as http:
        now = datetime.now(UTC)
        for driver in (known, paused):
            await app.state.service.open_account(driver, now)
        await EarningConsent(db).follow(paused, {"points": False}, now)

        async def simulate(body: dict[str, Any]) -> dict[str, Any]:
            answer = await http.post("/v1/rules/simulate", json=body, headers=operator)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        # Ten days without a violation: both safety rules were considered, neither applies.
        milestone = {"milestone": "days_without_violation", "days": 10}
        sim = await simulate(
            {"event_type": "safety.milestone.v1", "driver_id": known, "data": milestone}
        )
        assert (sim["outcome"], sim["points"], sim["rule"]) == ("no_rule", 0, None)
        why = {c["rule_id"]: c["why_not"] for c in sim["candidates"]}
        assert why == {
            "safety-100-days": "condition not met: days gte 100",
            "safety-30-days": "condition not met: days gte 30",
        }
        assert (await simulate(asked(unknown, 2)))["outcome"] == "parked"
        withdrawn = await simulate(asked(paused, 2))
        assert withdrawn["outcome"] == "refused"
        assert withdrawn["reason"].startswith("points_consent_withdrawn")
        old = (now - timedelta(days=40)).isoformat()
        assert (await simulate(asked(known, 2, occurred_at=old)))["outcome"] == "held_for_review"
        future = (now + timedelta(days=1)).isoformat()
        assert (await simulate(asked(known, 2, occurred_at=future)))["outcome"] == "refused"

        not_earning = await http.post(
            "/v1/rules/simulate",
            json={"event_type": "driver.registered.v1", "driver_id": known, "data": {}},
            headers=operator,
        )
        assert not_earning.status_code == 422
        assert not_earning.headers["content-type"] == "application/problem+json"
        bad = await http.post("/v1/rules/simulate", json=asked(known, "many"), headers=operator)
        assert bad.status_code == 422 and "hours" in bad.json()["detail"]
        # Readers of points only: a notifications editor and a driver are refused.
        editor = token(roles=["notify_editor"])
        refused = await http.post("/v1/rules/simulate", json=asked(known, 1), headers=editor)
        assert refused.status_code == 403 and "points:read" in refused.json()["detail"]
        own = token("driver", driver_id=known)
        assert (
            await http.post("/v1/rules/simulate", json=asked(known, 1), headers=own)
        ).status_code == 403
    # Nothing written: no entry, no parked event, no account for the unknown driver, no hold.
    assert await db["ledger"].count_documents({}) == 0
    assert await db["accounts"].find_one({"_id": unknown}) is None
    assert await db["parked"].count_documents({}) == 0
    assert await db["held_for_review"].count_documents({}) == 0
    assert await balance_is(mongo, settings, known, 0)
