"""Points on the real broker and store: exactly-once awards, parking, corrections, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from common.events import CloudEvent, new_event, parse_envelope
from common.events.cases import CaseCompensationGranted
from common.events.partner import PortAppointmentKept, VolunteerLogged
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.partner_links import PartnerLinkBook
from common.testing import Infra, TcpProxy, headers_of, read_topic, unique_name, wait_until
from points.app import create_app
from points.earning import Earning
from points.ledger import ConflictingEntry
from points.settings import PointsSettings
from tests.support import approved, produce, serve


def volunteer(driver_id: str, hours: float = 2, event_id: str | None = None) -> CloudEvent:
    return new_event(
        VolunteerLogged(
            driver_id=driver_id, activity="港区道路清洁", hours=hours, logged_at=datetime.now(UTC)
        ),
        source="partner/volunteer-team",
        subject=driver_id,
        event_id=event_id,
    )


def registered(driver_id: str) -> CloudEvent:
    return new_event(
        DriverRegistered(driver_id=driver_id, channel="operator", registered_at=datetime.now(UTC)),
        source="driverhome/registry",
        subject=driver_id,
    )


async def send(infra: Infra, settings: PointsSettings, topic: str, event: CloudEvent) -> None:
    await produce(
        infra.kafka_bootstrap,
        settings.topic(topic),
        event.to_bytes(),
        key=event.subject.encode(),
    )


async def balance_is(mongo: Any, settings: PointsSettings, driver_id: str, value: int) -> bool:
    doc = await mongo[settings.mongo_db]["accounts"].find_one({"_id": driver_id})
    return doc is not None and doc["balance"] == value


async def listed(mongo: Any, settings: PointsSettings, driver_id: str, count: int) -> bool:
    """The ledger lists ``count`` applied entries: marked a step after the balance moves."""
    ledger = mongo[settings.mongo_db]["ledger"]
    return bool(await ledger.count_documents({"driver_id": driver_id, "state": "applied"}) == count)


async def ledger_sum(mongo: Any, settings: PointsSettings, driver_id: str) -> int:
    total = 0
    async for doc in mongo[settings.mongo_db]["ledger"].find(
        {"driver_id": driver_id, "state": "applied"}
    ):
        total += doc["amount"]
    return total


async def replayed_count(http: Any, settings: PointsSettings) -> float:
    """Events the replay group handled (processed or skipped), once it caught up with 9."""
    group = f'group="{settings.topic_prefix}points-replay"'
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in (await http.get("/metrics")).text.splitlines()
        if line.startswith("driverhome_events_consumed_total")
        and group in line
        and ('outcome="processed"' in line or 'outcome="skipped"' in line)
    )
    return total if total >= 9 else 0


async def test_the_same_partner_event_delivered_five_times_gives_one_entry(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    event = volunteer(driver)
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, datetime.now(UTC))
        await asyncio.gather(
            *(send(infra, settings, "partner.volunteer-team.events", event) for _ in range(3))
        )
        await wait_until(lambda: balance_is(mongo, settings, driver, 20))
        # ...and twice more after the first copies were fully handled.
        for _ in range(2):
            await send(infra, settings, "partner.volunteer-team.events", event)
        await asyncio.sleep(3)
    db = mongo[settings.mongo_db]
    assert await db["ledger"].count_documents({"driver_id": driver}) == 1
    assert await balance_is(mongo, settings, driver, 20)
    announced = await read_topic(infra.kafka_bootstrap, settings.topic("points.events"))
    awarded = [parse_envelope(r.value) for r in announced]
    assert [(e.type, e.data["amount"]) for e in awarded] == [("points.awarded.v1", 20)]


@pytest.mark.expects_dlq("conflicting_duplicate")
async def test_the_same_event_id_with_another_payload_is_dead_lettered_without_an_award(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    original = volunteer(driver, hours=1)
    forged = volunteer(driver, hours=8, event_id=original.id)
    topic = "partner.volunteer-team.events"
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, datetime.now(UTC))
        await send(infra, settings, topic, original)
        await wait_until(lambda: balance_is(mongo, settings, driver, 10))
        await send(infra, settings, topic, forged)
        letters = await read_topic(infra.kafka_bootstrap, settings.topic(f"{topic}.dlq"))
    assert [headers_of(r)["dlq-reason"] for r in letters] == ["conflicting_duplicate"]
    assert await balance_is(mongo, settings, driver, 10)


@pytest.mark.expects_dlq("type_not_allowed", "source_mismatch", "key_mismatch")
async def test_events_a_partner_may_not_send_are_dead_lettered(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    # The volunteer team may only send volunteer.logged.v1.
    wrong_type = new_event(
        PortAppointmentKept(driver_id=driver, appointment_id="A-1", terminal="BL2", on_time=True),
        source="partner/volunteer-team",
        subject=driver,
    )
    wrong_source = volunteer(driver).model_copy(update={"source": "partner/port-booking"})
    topic = "partner.volunteer-team.events"
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, datetime.now(UTC))
        await send(infra, settings, topic, wrong_type)
        await send(infra, settings, topic, wrong_source)
        # Keyed by another driver: it would run beside that driver's events, out of order.
        elsewhere = volunteer(driver)
        await produce(
            infra.kafka_bootstrap,
            settings.topic(topic),
            elsewhere.to_bytes(),
            key=unique_name("drv_").encode(),
        )
        letters = await read_topic(
            infra.kafka_bootstrap, settings.topic(f"{topic}.dlq"), min_records=3
        )
    assert sorted(headers_of(r)["dlq-reason"] for r in letters) == [
        "key_mismatch",
        "source_mismatch",
        "type_not_allowed",
    ]
    assert await balance_is(mongo, settings, driver, 0)


async def test_an_event_for_a_driver_not_yet_announced_is_parked_and_applied_once_later(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    event = volunteer(driver, hours=3)
    app = create_app(settings)
    async with serve(app):
        await send(infra, settings, "partner.volunteer-team.events", event)
        await send(infra, settings, "partner.volunteer-team.events", event)
        parked = mongo[settings.mongo_db]["parked"]
        await wait_until(lambda: parked.count_documents({"driver_id": driver}))
        await send(infra, settings, "registry.events", registered(driver))
        await wait_until(lambda: balance_is(mongo, settings, driver, 30))
        await asyncio.sleep(2)
        assert await parked.count_documents({"driver_id": driver}) == 0
    assert await balance_is(mongo, settings, driver, 30)
    assert await mongo[settings.mongo_db]["ledger"].count_documents({"driver_id": driver}) == 1


async def test_a_full_replay_of_every_topic_changes_no_balance_or_entry(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    drivers = [unique_name("drv_") for _ in range(3)]
    app = create_app(settings)
    async with serve(app):
        for i, driver in enumerate(drivers):
            await send(infra, settings, "registry.events", registered(driver))
            for hours in range(1, i + 2):  # within the 80-a-day volunteer cap
                await send(
                    infra, settings, "partner.volunteer-team.events", volunteer(driver, hours)
                )
        expected = {d: 10 * sum(range(1, i + 2)) for i, d in enumerate(drivers)}
        for driver, value in expected.items():
            await wait_until(lambda d=driver, v=value: balance_is(mongo, settings, d, v))
    db = mongo[settings.mongo_db]
    before = sorted(
        [doc async for doc in db["ledger"].find({}, {"_id": 1, "amount": 1, "seq": 1})], key=str
    )

    # A new consumer group has no offsets: it replays every topic from the start.
    replay = create_app(settings.model_copy(update={"consumer_group": "points-replay"}))
    async with serve(replay) as http:
        replayed = await wait_until(lambda: replayed_count(http, settings), timeout=60)
        for driver, value in expected.items():
            assert await balance_is(mongo, settings, driver, value)
    assert replayed >= 3 + 6, "every registration and award went through the replay"
    after = sorted(
        [doc async for doc in db["ledger"].find({}, {"_id": 1, "amount": 1, "seq": 1})], key=str
    )
    assert after == before
    for driver, value in expected.items():
        assert await ledger_sum(mongo, settings, driver) == value


async def test_a_reversal_undoes_an_award_exactly_once_even_when_retried_concurrently(
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    infra: Infra,
    mongo: Any,
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app) as http:
        service = app.state.service
        await service.open_account(driver, datetime.now(UTC))
        award = await service.earn(Earning.of(volunteer(driver, hours=5)))
        assert award.state == "applied"
        answers = await asyncio.gather(
            *(
                http.post(
                    "/v1/reversals",
                    json={"entry_id": award.entry_id, "reason": "活动记录有误"},
                    headers=token("operator"),
                )
                for _ in range(5)
            )
        )
        ledger = await http.get(f"/v1/accounts/{driver}/ledger", headers=token())
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["entry_id"] for a in answers}) == 1
    assert await balance_is(mongo, settings, driver, 0)
    kinds = [(e["kind"], e["amount"]) for e in ledger.json()["items"]]
    assert kinds == [("reversal", -50), ("award", 50)]
    assert ledger.json()["items"][1]["rule"] == "volunteer@v1"
    assert ledger.json()["items"][0]["cause"]["reason"] == "活动记录有误"


async def test_daily_caps_limit_awards_and_the_ledger_says_why(
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    mongo: Any,
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app) as http:
        service = app.state.service
        await service.open_account(driver, datetime.now(UTC))
        outcomes = [await service.earn(Earning.of(volunteer(driver, hours=3))) for _ in range(4)]
        ledger = await http.get(f"/v1/accounts/{driver}/ledger", headers=token())
    # 80 a day: 30 + 30 + 20 (capped) + nothing.
    assert [o.state for o in outcomes] == ["applied", "applied", "applied", "rejected"]
    assert await balance_is(mongo, settings, driver, 80)
    notes = [e["note"] for e in ledger.json()["items"]]
    assert notes[0] == "capped from 30 by the rule's daily or monthly cap"


async def test_points_expire_after_the_configured_months_once_and_are_announced(
    make_settings: Callable[..., PointsSettings], mongo: Any, infra: Infra
) -> None:
    now = [datetime(2026, 1, 15, tzinfo=UTC)]
    settings = make_settings(PointsSettings, expiry_months=12)
    driver = unique_name("drv_")
    app = create_app(settings, clock=lambda: now[0])
    async with serve(app):
        service = app.state.service
        await service.open_account(driver, now[0])
        old = volunteer(driver, hours=4).model_copy(update={"time": now[0]})
        await service.earn(Earning.of(old))
        await service.adjust(driver, -10, operator="op", reason="兑换线下礼品", request_id="r1")
        now[0] = datetime(2027, 3, 1, tzinfo=UTC)
        recent = volunteer(driver, hours=1).model_copy(update={"time": now[0]})
        await service.earn(Earning.of(recent))
        first = await service.expire_all()
        second = await service.expire_all()
    assert (first, second) == (1, 0)
    # 40 awarded in Jan 2026, 10 spent (oldest first): 30 expire; the 10 from Mar 2027 stay.
    assert await balance_is(mongo, settings, driver, 10)
    assert await ledger_sum(mongo, settings, driver) == 10
    events = [
        parse_envelope(r.value)
        for r in await read_topic(
            infra.kafka_bootstrap, settings.topic("points.events"), min_records=4
        )
    ]
    expired = [e for e in events if e.type == "points.expired.v1"]
    assert len(expired) == 1
    assert expired[0].data["amount"] == 30


async def test_a_grade_change_is_announced_with_its_reasons(
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    infra: Infra,
    token: Callable[..., dict[str, str]],
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app) as http:
        service = app.state.service
        await service.open_account(driver, datetime.now(UTC))
        await service.adjust(driver, 450, operator="op", reason="年度优秀志愿者", request_id="r1")
        # As the registry's driver.partner_linked.v1 would: port-booking registered this driver.
        await PartnerLinkBook(mongo[settings.mongo_db]).note(
            "port-booking", driver, linked=True, at=datetime.now(UTC)
        )
        grade = await http.get(
            f"/v1/accounts/{driver}/grade",
            headers=token("partner", partner_id="port-booking", scope="grades:read"),
        )
        denied = await http.get(
            f"/v1/accounts/{driver}/grade", headers=token("partner", partner_id="port-booking")
        )
        changes = await read_topic(
            infra.kafka_bootstrap, settings.topic("points.events"), min_records=2
        )
    assert grade.status_code == 200
    assert grade.json()["grade"] == "AA"
    assert grade.json()["benefits"]
    assert denied.status_code == 404
    graded = [parse_envelope(r.value) for r in changes]
    changed = [e for e in graded if e.type == "points.grade_changed.v1"]
    # At least once: the relay and its sweeper may both send it, always under one id.
    assert len({e.id for e in changed}) == 1
    assert (changed[0].data["old_grade"], changed[0].data["new_grade"]) == ("A", "AA")
    assert "earned 450 points" in changed[0].data["reasons"][0]


async def test_rules_are_versioned_and_an_invalid_rule_is_refused(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    settings = make_settings(PointsSettings)
    app = create_app(settings)
    async with serve(app) as http:
        festival = {
            "name": "春运双倍积分",
            "event_type": "volunteer.logged.v1",
            "points_per_unit": 20,
            "unit_field": "hours",
            "priority": 10,
            "valid_from": "2027-01-20T00:00:00+08:00",
            "valid_until": "2027-02-28T00:00:00+08:00",
        }
        # Four eyes: each version takes effect once a second person approves it.
        created = await approved(
            http,
            await http.put("/v1/rules/spring-festival", json=festival, headers=token()),
            token(),
        )
        again = await approved(
            http,
            await http.put(
                "/v1/rules/spring-festival",
                json={**festival, "points_per_unit": 25},
                headers=token(),
            ),
            token(),
        )
        versions = await http.get("/v1/rules/spring-festival/versions", headers=token())
        bad = await http.put(
            "/v1/rules/bad", json={**festival, "unit_field": None}, headers=token()
        )
        unknown = await http.put(
            "/v1/rules/bad", json={**festival, "event_type": "points.awarded.v1"}, headers=token()
        )
        as_driver = await http.get("/v1/rules", headers=token("driver", driver_id="d"))
        service = app.state.service
        driver = unique_name("drv_")
        await service.open_account(driver, datetime.now(UTC))
        during = volunteer(driver, hours=1).model_copy(
            update={"time": datetime(2027, 2, 1, tzinfo=UTC)}
        )
        entry = await service.earn(Earning.of(during))
    assert (created.json()["result"]["version"], again.json()["result"]["version"]) == (1, 2)
    assert [v["version"] for v in versions.json()] == [2, 1]
    assert bad.status_code == 422
    assert unknown.status_code == 422
    assert as_driver.status_code == 403
    assert (entry.rule_id, entry.rule_version, entry.amount) == ("spring-festival", 2, 25)


async def test_balance_always_equals_the_sum_of_entries_under_concurrent_debits(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app):
        service = app.state.service
        await service.open_account(driver, datetime.now(UTC))
        await service.adjust(driver, 100, operator="op", reason="测试充值", request_id="seed")
        semaphore = asyncio.Semaphore(50)

        async def debit(i: int) -> str:
            async with semaphore:
                try:
                    entry = await service.adjust(
                        driver, -10, operator="op", reason="扣减测试", request_id=f"d{i}"
                    )
                except Exception as exc:
                    return type(exc).__name__
                return entry.state

        outcomes = await asyncio.gather(*(debit(i) for i in range(200)))
    assert outcomes.count("applied") == 10
    assert outcomes.count("rejected") == 190
    assert await balance_is(mongo, settings, driver, 0)
    assert await ledger_sum(mongo, settings, driver) == 0
    seqs = [
        doc["seq"]
        async for doc in mongo[settings.mongo_db]["ledger"].find(
            {"driver_id": driver, "state": "applied"}
        )
    ]
    assert sorted(seqs) == list(range(1, 12)), "one gap-free history"


async def test_awards_for_a_deactivated_driver_wait_and_count_once_after_reactivation(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    now = datetime.now(UTC)
    deactivated = new_event(
        DriverDeactivated(driver_id=driver, deactivated_at=now, reason="left the port"),
        source="driverhome/registry",
        subject=driver,
    )
    reactivated = new_event(
        DriverUpdated(driver_id=driver, changed_fields=["status"], updated_at=now),
        source="driverhome/registry",
        subject=driver,
    )
    async with serve(create_app(settings)):
        await send(infra, settings, "registry.events", registered(driver))
        await send(infra, settings, "registry.events", deactivated)
        accounts = mongo[settings.mongo_db]["accounts"]
        await wait_until(lambda: accounts.find_one({"_id": driver, "status": "frozen"}))
        await send(infra, settings, "partner.volunteer-team.events", volunteer(driver, hours=2))
        parked = mongo[settings.mongo_db]["parked"]
        await wait_until(lambda: parked.find_one({"driver_id": driver}))
        assert await balance_is(mongo, settings, driver, 0)
        await send(infra, settings, "registry.events", reactivated)
        await wait_until(lambda: balance_is(mongo, settings, driver, 20))
    assert await mongo[settings.mongo_db]["ledger"].count_documents({"driver_id": driver}) == 1


async def test_grades_fall_back_as_points_leave_the_window_and_the_change_is_announced_once(
    make_settings: Callable[..., PointsSettings], mongo: Any, infra: Infra
) -> None:
    now = [datetime(2026, 3, 10, tzinfo=UTC)]
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings, clock=lambda: now[0])
    async with serve(app):
        service = app.state.service
        await service.open_account(driver, now[0])
        await service.adjust(driver, 500, operator="op", reason="年度优秀志愿者", request_id="r1")
        assert (await service.get_account(driver)).grade == "AA"
        now[0] = datetime(2027, 4, 2, tzinfo=UTC)
        changed = await asyncio.gather(service.refresh_all_grades(), service.refresh_all_grades())
        account = await service.get_account(driver)
        events = [
            parse_envelope(r.value)
            for r in await read_topic(
                infra.kafka_bootstrap, settings.topic("points.events"), min_records=3
            )
        ]
    assert sum(changed) == 1, "two instances refreshing at once change it once"
    assert account.grade == "A"
    assert account.balance == 500, "leaving the grade window does not take points"
    downgrades = {
        e.id for e in events if e.type == "points.grade_changed.v1" and e.data["new_grade"] == "A"
    }
    assert len(downgrades) == 1


async def test_the_monthly_regrading_leaves_an_erased_drivers_closed_account_alone(
    make_settings: Callable[..., PointsSettings], mongo: Any, infra: Infra
) -> None:
    """A grade change names the driver on points.events (notify, cases and the booking system
    follow it): months after an erasure it would bring the driver's id back everywhere."""
    now = [datetime(2026, 3, 10, tzinfo=UTC)]
    settings = make_settings(PointsSettings)
    driver, other = unique_name("drv_"), unique_name("drv_")
    app = create_app(settings, clock=lambda: now[0])
    async with serve(app):
        service = app.state.service
        for who in (driver, other):
            await service.open_account(who, now[0])
            await service.adjust(who, 500, operator="op", reason="年度优秀志愿者", request_id="r1")
        await service.deactivate(driver, erased=True)
        now[0] = datetime(2027, 4, 2, tzinfo=UTC)
        changed = await service.refresh_all_grades()
        closed = await service.get_account(driver)
        events = [
            parse_envelope(r.value)
            for r in await read_topic(
                infra.kafka_bootstrap, settings.topic("points.events"), min_records=5
            )
        ]
    assert changed == 1, "the other driver's account is re-graded"
    assert closed.grade == "AA"
    downgrades = {
        e.subject
        for e in events
        if e.type == "points.grade_changed.v1" and e.data["new_grade"] == "A"
    }
    assert downgrades == {other}


async def test_an_adjustment_key_reused_for_another_amount_is_refused(
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
    mongo: Any,
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        url = f"/v1/accounts/{driver}/adjustments"
        key = {"Idempotency-Key": "adj-1"}
        operator = token("operator", sub="op-1")
        first = await http.post(
            url, json={"amount": 30, "reason": "补录积分"}, headers={**operator, **key}
        )
        again = await http.post(
            url, json={"amount": 30, "reason": "补录积分"}, headers={**operator, **key}
        )
        other = await http.post(
            url, json={"amount": 300, "reason": "补录积分"}, headers={**operator, **key}
        )
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 409)
    assert again.json()["entry_id"] == first.json()["entry_id"]
    assert await balance_is(mongo, settings, driver, 30)


async def test_two_different_adjustments_under_one_request_id_at_once_apply_one_answer_one(
    make_settings: Callable[..., PointsSettings],
) -> None:
    """Both pass the look for an earlier adjustment under the id at the same moment; the ledger
    keeps one, and the other is refused rather than answered as if it had been applied."""
    app = create_app(make_settings(PointsSettings))
    async with serve(app):
        service = app.state.service
        driver = unique_name("drv_")
        await service.open_account(driver, datetime.now(UTC))
        outcomes = await asyncio.gather(
            *(
                service.adjust(driver, amount, operator="op-1", reason="补录积分", request_id="r1")
                for amount in (30, 300)
            ),
            return_exceptions=True,
        )
        account = await service.get_account(driver)
    applied = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, ConflictingEntry)]
    assert len(applied) == 1 and len(refused) == 1, outcomes
    assert account.balance == applied[0].amount


async def test_a_batch_interrupted_by_a_store_outage_is_rewound_and_counted_once(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    host, port = infra.mongo_url.removeprefix("mongodb://").split("/")[0].split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    settings = make_settings(
        PointsSettings,
        mongo_url=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
        mongo_timeout_ms=1000,
    )
    drivers = [unique_name("drv_") for _ in range(3)]
    try:
        app = create_app(settings)
        async with serve(app):
            for driver in drivers:
                await app.state.service.open_account(driver, datetime.now(UTC))
            await proxy.cut()
            for driver in drivers:
                for hours in (1, 2):
                    await send(
                        infra, settings, "partner.volunteer-team.events", volunteer(driver, hours)
                    )
            await asyncio.sleep(4)  # the batch fails against the absent store, and is retried
            await proxy.restore()
            for driver in drivers:
                await wait_until(lambda d=driver: balance_is(mongo, settings, d, 30), timeout=60)
                await wait_until(lambda d=driver: listed(mongo, settings, d, 2))
    finally:
        await proxy.cut()
    for driver in drivers:
        assert await ledger_sum(mongo, settings, driver) == 30
        assert await mongo[settings.mongo_db]["ledger"].count_documents({"driver_id": driver}) == 2
    assert (
        await read_topic(
            infra.kafka_bootstrap,
            settings.topic("partner.volunteer-team.events.dlq"),
            min_records=1,
            timeout=2,
        )
        == []
    )


async def test_a_case_compensation_is_credited_once_even_when_redelivered(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    compensation = new_event(
        CaseCompensationGranted(
            compensation_id=f"case-7:{driver}:resolution",
            case_id="case-7",
            driver_id=driver,
            kind="missed_deadline",
            amount=50,
            clock="resolution",
            granted_at=datetime.now(UTC),
        ),
        source="driverhome/cases",
        subject=driver,
        event_id=f"case-7:{driver}:resolution",
    )
    app = create_app(settings)
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        for _ in range(3):
            await send(infra, settings, "cases.events", compensation)
        await wait_until(lambda: balance_is(mongo, settings, driver, 50))
        await asyncio.sleep(2)
        ledger = await http.get(f"/v1/accounts/{driver}/ledger", headers=token())
    assert await balance_is(mongo, settings, driver, 50)
    [entry] = ledger.json()["items"]
    assert entry["rule"] == "case-compensation@v1"
    assert entry["cause"]["event_type"] == "case.compensation_granted.v1"
