"""Earning that cannot be gamed (issue 14, "Points can be minted"), on the real broker and store.

Each test is one finding: it failed on the code before the fix and passes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from common.events import CloudEvent, new_event
from common.events.partner import TrainingCompleted, VolunteerLogged
from common.events.stations import ActivityAttended
from common.testing import Infra, headers_of, read_topic, unique_name, wait_until
from points.app import create_app
from points.earning import Earning
from points.settings import PointsSettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.support import approved, produce, serve

VOLUNTEERS = "partner.volunteer-team.events"
TRAINING = "partner.training-centre.events"


def volunteer(driver_id: str, hours: float, at: datetime) -> CloudEvent:
    return new_event(
        VolunteerLogged(driver_id=driver_id, activity="港区道路清洁", hours=hours, logged_at=at),
        source="partner/volunteer-team",
        subject=driver_id,
        time=at,
    )


async def send(infra: Infra, settings: PointsSettings, topic: str, event: CloudEvent) -> None:
    await produce(
        infra.kafka_bootstrap, settings.topic(topic), event.to_bytes(), key=event.subject.encode()
    )


async def balance(mongo: Any, settings: PointsSettings, driver_id: str) -> int:
    doc = await mongo[settings.mongo_db]["accounts"].find_one({"_id": driver_id})
    return int(doc["balance"]) if doc else -1


async def entries(mongo: Any, settings: PointsSettings, driver_id: str) -> int:
    """The driver's decided ledger entries. An entry is written pending, applied to the balance,
    then marked applied (points/ledger.py): counting pending ones too would let a test read the
    balance before the last entry reached it."""
    decided = {"driver_id": driver_id, "state": {"$in": ["applied", "rejected"]}}
    return int(await mongo[settings.mongo_db]["ledger"].count_documents(decided))


async def test_one_training_event_earns_no_more_than_the_rules_per_event_maximum(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    # 200 hours is what the event schema allows: 10 + 5 × 200 = 1,010 points before the fix.
    marathon = new_event(
        TrainingCompleted(driver_id=driver, course_id="C-1", hours=200),
        source="partner/training-centre",
        subject=driver,
        time=datetime.now(UTC),
    )
    festival = {"name": "培训", "event_type": "training.completed.v1", "points": 50}
    app = create_app(settings)
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        await send(infra, settings, TRAINING, marathon)
        # The ledger lists an entry once it is marked applied, a step after the balance moves
        # (points/ledger.py), so the wait is on the listing itself.

        async def listed() -> httpx.Response | None:
            answer = await http.get(f"/v1/accounts/{driver}/ledger", headers=token())
            return answer if answer.json()["items"] else None

        ledger = await wait_until(listed)
        below = await http.put(
            "/v1/rules/training-x", json={**festival, "max_per_event": 40}, headers=token()
        )
        above = await http.put(
            "/v1/rules/training-x", json={**festival, "max_per_event": 10_001}, headers=token()
        )
        # Rule changes take effect once a second person approves them (four eyes).
        await approved(
            http,
            await http.put(
                "/v1/rules/training-x", json={**festival, "max_per_event": 60}, headers=token()
            ),
            token(),
        )
        await approved(
            http, await http.put("/v1/rules/training-y", json=festival, headers=token()), token()
        )
        [saved] = (await http.get("/v1/rules/training-x/versions", headers=token())).json()
        [defaulted] = (await http.get("/v1/rules/training-y/versions", headers=token())).json()
    [line] = ledger.json()["items"]
    assert line["amount"] == 100
    assert await balance(mongo, settings, driver) == 100
    assert "capped from 1010 by the rule's per-event maximum of 100" in line["note"]
    assert (below.status_code, above.status_code) == (422, 422)
    assert saved["spec"]["max_per_event"] == 60
    assert defaulted["spec"]["max_per_event"] == 100


async def test_one_course_resent_under_new_ids_earns_no_more_than_a_days_cap(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    """A partner's word is the only evidence of a course: the same course sent three times
    under new event ids earns at most the training rule's daily cap."""
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    now = datetime.now(UTC)
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, now)
        for _ in range(3):
            course = TrainingCompleted(driver_id=driver, course_id="C-7", hours=18)
            resent = new_event(course, source="partner/training-centre", subject=driver, time=now)
            await send(infra, settings, TRAINING, resent)

        async def all_decided() -> bool:
            return await entries(mongo, settings, driver) == 3

        await wait_until(all_decided)
    assert await balance(mongo, settings, driver) == 100


async def test_back_and_forward_dated_events_do_not_multiply_a_daily_cap(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    now = datetime.now(UTC)
    # 80 points a day for volunteering: each of these asks for the whole day's cap, each
    # dated on another day (inside the accepted window).
    moments = [now - timedelta(days=2), now - timedelta(days=1), now, now + timedelta(minutes=5)]
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, now)
        for moment in moments:
            await send(infra, settings, VOLUNTEERS, volunteer(driver, 8, moment))

        async def all_decided() -> bool:
            return await entries(mongo, settings, driver) == len(moments)

        await wait_until(all_decided)
    assert await balance(mongo, settings, driver) == 80


async def test_an_event_older_than_the_window_is_held_until_an_operator_decides(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    settings = make_settings(PointsSettings, earning_max_age_days=30)
    driver = unique_name("drv_")
    long_ago = datetime.now(UTC) - timedelta(days=45)
    approved, refused = volunteer(driver, 2, long_ago), volunteer(driver, 3, long_ago)
    held = mongo[settings.mongo_db]["held_for_review"]
    app = create_app(settings)
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        for event in (approved, refused, approved):  # the repeat is held once
            await send(infra, settings, VOLUNTEERS, event)

        async def both_held() -> bool:
            return await held.count_documents({"driver_id": driver}) == 2

        await wait_until(both_held)
        assert await balance(mongo, settings, driver) == 0, "nothing credited on its own"
        listed = await http.get("/v1/held-events", headers=token())
        as_driver = await http.get("/v1/held-events", headers=token("driver", driver_id=driver))
        ids = {i["event_id"]: i["hold_id"] for i in listed.json()["items"]}
        operator = token("operator", sub="op-review")
        approve = f"/v1/held-events/{ids[approved.id]}/approve"
        first, again = [await http.post(approve, headers=operator) for _ in range(2)]
        refuse = f"/v1/held-events/{ids[refused.id]}/refuse"
        no = await http.post(refuse, json={"reason": "补录超期"}, headers=operator)
        late_yes = await http.post(f"/v1/held-events/{ids[refused.id]}/approve", headers=operator)
        after = await http.get("/v1/held-events", headers=token())
        # A redelivery of a decided event is neither credited again nor held again.
        await send(infra, settings, VOLUNTEERS, refused)
        await send(infra, settings, VOLUNTEERS, approved)
        await send(infra, settings, VOLUNTEERS, volunteer(driver, 1, datetime.now(UTC)))

        async def fresh_one_credited() -> bool:
            return await entries(mongo, settings, driver) == 2

        await wait_until(fresh_one_credited)
    assert as_driver.status_code == 403
    assert {i["reason"] for i in listed.json()["items"]} == {"event_too_old"}
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["entry"]["amount"] == 20
    assert again.json()["entry"]["entry_id"] == first.json()["entry"]["entry_id"]
    assert first.json()["hold"]["decided_by"] == "op-review"
    assert (no.status_code, no.json()["hold"]["state"]) == (200, "refused")
    assert late_yes.status_code == 409
    assert [i for i in after.json()["items"] if i["driver_id"] == driver] == []
    assert await balance(mongo, settings, driver) == 20 + 10
    assert await held.count_documents({"driver_id": driver}) == 2


@pytest.mark.expects_dlq("event_in_future")
async def test_an_event_dated_in_the_future_is_dead_lettered_and_credits_nothing(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings, earning_max_future_minutes=10)
    driver = unique_name("drv_")
    now = datetime.now(UTC)
    future = volunteer(driver, 5, now + timedelta(days=1))
    skewed = volunteer(driver, 1, now + timedelta(minutes=2))  # a sender's clock a bit ahead
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, now)
        await send(infra, settings, VOLUNTEERS, future)
        await send(infra, settings, VOLUNTEERS, skewed)
        letters = await read_topic(infra.kafka_bootstrap, settings.topic(f"{VOLUNTEERS}.dlq"))
        await wait_until(lambda: entries(mongo, settings, driver))
    assert [headers_of(r)["dlq-reason"] for r in letters] == ["event_in_future"]
    assert await balance(mongo, settings, driver) == 10
    assert await entries(mongo, settings, driver) == 1


async def test_an_award_dated_2099_expires_with_the_month_points_received_it(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    now = [datetime(2026, 1, 15, tzinfo=UTC)]
    settings = make_settings(PointsSettings, expiry_months=12)
    driver = unique_name("drv_")
    app = create_app(settings, clock=lambda: now[0])
    async with serve(app):
        service = app.state.service
        await service.open_account(driver, now[0])
        # However it reached the ledger (an approval, a parked event, an old version), the
        # sender's date must not decide when the points expire.
        future = volunteer(driver, 4, datetime(2099, 1, 1, tzinfo=UTC))
        entry = await service.earn(Earning.of(future))
        assert entry.state == "applied"
        now[0] = datetime(2027, 3, 1, tzinfo=UTC)
        await service.expire_all()
        account = await service.get_account(driver)
    assert account.earned == {"2026-01": 40}
    assert account.balance == 0


def attended(driver_id: str, station_id: str) -> CloudEvent:
    now = datetime.now(UTC)
    return new_event(
        ActivityAttended(
            driver_id=driver_id,
            station_id=station_id,
            activity_id=unique_name("act_"),
            activity_kind="market",
            attended_at=now,
        ),
        source="driverhome/stations",
        subject=driver_id,
        time=now,
    )


async def test_activity_awards_past_a_stations_monthly_threshold_wait_for_an_operator(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    settings = make_settings(PointsSettings, activity_awards_per_station_month=2)
    busy, other = unique_name("stn_"), unique_name("stn_")
    drivers = [unique_name("drv_") for _ in range(4)]
    events = [attended(d, busy) for d in drivers[:3]] + [attended(drivers[3], other)]
    held = mongo[settings.mongo_db]["held_for_review"]
    app = create_app(settings)
    async with serve(app) as http:
        for driver in drivers:
            await app.state.service.open_account(driver, datetime.now(UTC))
        for event in [*events, events[2], events[0]]:  # redeliveries count once
            await send(infra, settings, "stations.events", event)

        async def decided() -> bool:
            credited = [await balance(mongo, settings, d) for d in drivers]
            return sorted(credited) == [0, 20, 20, 20] and await held.count_documents({}) == 1

        await wait_until(decided)
        [hold] = (await http.get("/v1/held-events", headers=token())).json()["items"]
        approved = await http.post(f"/v1/held-events/{hold['hold_id']}/approve", headers=token())
    assert hold["reason"] == "station_threshold"
    assert hold["event_id"] in {e.id for e in events[:3]}
    assert await balance(mongo, settings, drivers[3]) == 20, "another station is not held back"
    assert approved.status_code == 200
    assert [await balance(mongo, settings, d) for d in drivers] == [20, 20, 20, 20]


async def test_a_station_schedules_at_most_its_monthly_number_of_activities(
    make_settings: Callable[..., StationsSettings], token: Callable[..., dict[str, str]]
) -> None:
    settings = make_settings(StationsSettings, max_activities_per_station_month=2)
    starts = datetime.now(UTC) + timedelta(days=2)
    activity = {
        "kind": "market",
        "title": "红领集市",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "capacity": 50,
        "registration_required": False,
    }
    async with serve(stations_app(settings)) as http:
        answers: dict[str, list[Any]] = {}
        for station in (unique_name("stn_"), unique_name("stn_")):
            created = await http.post("/v1/stations", json=station_body(station), headers=token())
            assert created.status_code == 201, created.text
            staff = token("station", station_id=station)
            answers[station] = [
                await http.post(f"/v1/stations/{station}/activities", json=activity, headers=staff)
                for _ in range(3 if not answers else 1)
            ]
    busy, other = answers.values()
    assert [a.status_code for a in busy] == [201, 201, 409]
    assert busy[2].json()["code"] == "activity_quota_reached"
    assert [a.status_code for a in other] == [201]


def station_body(station_id: str) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "name": "霞浦集卡司机之家",
        "kind": "drivers_home",
        "operator_org": "北仑区交通运输行业党委",
        "address": "宁波市北仑区霞浦街道",
        "location": {"lat": 29.888, "lng": 121.845},
        "hours": {"always_open": True},
        "capacity": {"beds": 10, "parking": 20, "showers": 4},
        "services": [{"code": "rest"}],
    }
