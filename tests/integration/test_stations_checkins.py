"""Check-ins on the real broker and store: announced once, deduped, flagged, refused, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from common.events.stations import ServiceUsed
from common.testing import Infra, wait_until
from tests.integration.stations_harness import Harness, start_harness
from tests.support import problem_body

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SHANGHAI = {"lat": 31.2304, "lng": 121.4737}  # ~145 km from the Beilun stations


@pytest.fixture(scope="module")
async def h(infra: Infra) -> AsyncIterator[Harness]:
    async for harness in start_harness(infra):
        yield harness


async def test_a_checkin_is_announced_once_as_service_used_with_the_checkin_id(h: Harness) -> None:
    h.clock.at = None
    station, driver = await h.station(), await h.driver()
    answer = await h.checkin(driver, station, "shower")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["status"], body["channel"], body["reason"]) == ("counted", "staff", None)
    events = await h.events_of([driver], at_least=1)
    assert [(e.type, e.id, e.source) for e in events] == [
        ("service.used.v1", body["checkin_id"], "driverhome/stations")
    ]
    data = ServiceUsed.model_validate(events[0].data)
    assert (data.station_id, data.service_code, data.checkin_id) == (
        station,
        "shower",
        body["checkin_id"],
    )


async def test_concurrent_checkins_at_a_nearly_full_station_never_overbook(h: Harness) -> None:
    h.clock.at = None
    station = await h.station(capacity={"beds": 3, "parking": 0})
    drivers = await h.drivers(12)
    answers = await asyncio.gather(*(h.checkin(d, station, "bed") for d in drivers))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 3 + [409] * 9
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {r["code"] for r in refused} == {"no_capacity"}
    occupancy = (await h.http.get(f"/v1/stations/{station}/occupancy", headers=h.auth())).json()
    assert (occupancy["free"]["beds"], occupancy["taken"]["beds"]) == (0, 3)
    winners = [a.json() for a in answers if a.status_code == 201]
    assert {w["resource"] for w in winners} == {"beds"}
    events = await h.events_of(drivers, at_least=3)
    assert len(events) == 3, "only the check-ins that got a bed are announced"


async def test_checking_out_frees_the_bed_once_and_never_above_capacity(h: Harness) -> None:
    h.clock.at = None
    station = await h.station(capacity={"beds": 1})
    driver, other = await h.drivers(2)
    first = (await h.checkin(driver, station, "bed")).json()
    assert (await h.checkin(other, station, "bed")).status_code == 409
    staff = h.auth("station", station_id=station)
    outs = await asyncio.gather(
        *(
            h.http.post(f"/v1/checkins/{first['checkin_id']}/checkout", headers=staff)
            for _ in range(4)
        )
    )
    assert sorted(o.status_code for o in outs) == [200, 409, 409, 409]
    occupancy = (await h.http.get(f"/v1/stations/{station}/occupancy", headers=h.auth())).json()
    assert (occupancy["free"]["beds"], occupancy["taken"]["beds"]) == (1, 0)
    assert (await h.checkin(other, station, "bed")).status_code == 201


async def test_the_same_use_within_the_window_counts_once(h: Harness) -> None:
    station, driver = await h.station(), await h.driver()
    h.clock.at = T0
    first = (await h.checkin(driver, station, "meals")).json()
    h.clock.at = T0 + timedelta(minutes=10)
    again = (await h.checkin(driver, station, "meals")).json()
    other_service = (await h.checkin(driver, station, "shower")).json()
    h.clock.at = T0 + timedelta(minutes=45)
    later = (await h.checkin(driver, station, "meals")).json()
    h.clock.at = None
    assert [c["status"] for c in (first, again, other_service, later)] == [
        "counted",
        "duplicate",
        "counted",
        "counted",
    ]
    assert again["reason"] == "within_window"
    events = await h.events_of([driver], at_least=3)
    assert sorted(e.id for e in events) == sorted(
        c["checkin_id"] for c in (first, other_service, later)
    )


async def test_impossible_travel_between_stations_is_flagged_not_announced(h: Harness) -> None:
    beilun = await h.station()
    shanghai = await h.station(location=SHANGHAI, name="上海司机之家")
    driver = await h.driver()
    h.clock.at = T0
    here = (await h.checkin(driver, beilun, "shower")).json()
    h.clock.at = T0 + timedelta(minutes=20)  # 145 km in 20 minutes
    there = (await h.checkin(driver, shanghai, "shower")).json()
    h.clock.at = T0 + timedelta(hours=3)  # plausible by road
    later = (await h.checkin(driver, shanghai, "meals")).json()
    h.clock.at = None
    assert (here["status"], there["status"], later["status"]) == ("counted", "flagged", "counted")
    assert there["reason"] == "impossible_travel"
    events = await h.events_of([driver], at_least=2)
    assert sorted(e.id for e in events) == sorted([here["checkin_id"], later["checkin_id"]])
    flagged = await h.http.get(
        "/v1/checkins", params={"status": "flagged", "driver_id": driver}, headers=h.auth()
    )
    assert [c["checkin_id"] for c in flagged.json()["items"]] == [there["checkin_id"]]


async def test_checkins_at_two_far_stations_at_once_count_one_and_flag_the_other(
    h: Harness,
) -> None:
    """Both read the same last use before either records its own (a copied card at two
    kiosks): the judgement and the last use it is made against move together, so one of the
    pair is flagged however they interleave."""
    beilun = await h.station()
    shanghai = await h.station(location=SHANGHAI, name="上海司机之家")
    drivers = await h.drivers(4)
    h.clock.at = T0
    pairs = await asyncio.gather(
        *(
            asyncio.gather(h.checkin(d, beilun, "shower"), h.checkin(d, shanghai, "shower"))
            for d in drivers
        )
    )
    h.clock.at = None
    for pair in pairs:
        assert all(a.status_code == 201 for a in pair), [a.text for a in pair]
        assert sorted(a.json()["status"] for a in pair) == ["counted", "flagged"]
    events = await h.events_of(drivers, at_least=len(drivers))
    assert len(events) == len(drivers), "only the counted one of each pair is announced"


async def test_a_closed_station_refuses_checkins_with_a_clear_reason(h: Harness) -> None:
    h.clock.at = None
    driver = await h.driver()
    closed = await h.station(status="temporarily_closed")
    answer = await h.checkin(driver, closed, "shower")
    assert answer.status_code == 409
    assert answer.json()["code"] == "station_closed"
    assert "temporarily closed" in answer.json()["detail"]

    # 08:00-20:00 Beijing time; 2026-03-10 13:30 UTC is 21:30 there.
    day_only = await h.station(
        hours={"week": {d: [{"opens": "08:00", "closes": "20:00"}] for d in ("mon", "tue", "wed")}}
    )
    h.clock.at = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
    after_hours = await h.checkin(driver, day_only, "shower")
    h.clock.at = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 11:00 there
    in_hours = await h.checkin(driver, day_only, "shower")
    h.clock.at = None
    assert (after_hours.status_code, after_hours.json()["code"]) == (409, "station_closed")
    assert "opening hours" in after_hours.json()["detail"]
    assert in_hours.status_code == 201
    assert (await h.checkin(driver, day_only, "gym")).json()["code"] == "service_not_offered"


async def test_unknown_and_deactivated_drivers_are_refused(h: Harness) -> None:
    h.clock.at = None
    station = await h.station()
    unknown = await h.checkin("drv_nobody_knows", station, "shower")
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_driver"
    assert "not known to the registry" in unknown.json()["detail"]
    driver = await h.driver()
    await h.deactivate(driver)
    deactivated = await h.checkin(driver, station, "shower")
    assert (deactivated.status_code, deactivated.json()["code"]) == (409, "driver_deactivated")
    assert await h.events_of([driver, "drv_nobody_knows"], at_least=0) == []


async def test_a_retried_request_with_the_same_idempotency_key_records_one_checkin(
    h: Harness,
) -> None:
    h.clock.at = None
    station, driver = await h.station(), await h.driver()
    first = await h.checkin(driver, station, "bed", **{"Idempotency-Key": "desk-1-0001"})
    again = await h.checkin(driver, station, "bed", **{"Idempotency-Key": "desk-1-0001"})
    assert (first.status_code, again.status_code) == (201, 201), "the answer is replayed"
    assert again.json() == first.json()
    occupancy = (await h.http.get(f"/v1/stations/{station}/occupancy", headers=h.auth())).json()
    assert occupancy["taken"]["beds"] == 1
    assert len(await h.events_of([driver], at_least=1)) == 1


async def test_duplicate_kiosk_events_give_one_service_used(h: Harness) -> None:
    station, driver = await h.station(), await h.driver()
    used_at = datetime.now(UTC).replace(microsecond=0)
    event = h.kiosk_event(driver, station, "shower", used_at)
    for _ in range(3):  # redelivered by the kiosk's retries
        await h.publish("partner.station-kiosk.events", event)
    # The kiosk's operator presses "send" again: a new event id for the same shower.
    resent = h.kiosk_event(driver, station, "shower", used_at + timedelta(minutes=1))
    await h.publish("partner.station-kiosk.events", resent)

    async def both_recorded() -> bool:
        return await h.db["checkins"].count_documents({"driver_id": driver}) == 2

    await wait_until(both_recorded)
    events = await h.events_of([driver], at_least=1, settle=2.5)
    assert len(events) == 1
    statuses = sorted(
        (await h.http.get("/v1/checkins", params={"driver_id": driver}, headers=h.auth())).json()[
            "items"
        ],
        key=lambda c: c["used_at"],
    )
    assert [(c["status"], c["channel"]) for c in statuses] == [
        ("counted", "kiosk"),
        ("duplicate", "kiosk"),
    ]
    assert events[0].id == statuses[0]["checkin_id"]


async def test_a_kiosk_use_the_rules_refuse_is_kept_as_refused_and_not_announced(
    h: Harness,
) -> None:
    station = await h.station(status="temporarily_closed")
    driver = await h.driver()
    await h.publish(
        "partner.station-kiosk.events",
        h.kiosk_event(driver, station, "shower", datetime.now(UTC)),
    )
    await h.publish(
        "partner.station-kiosk.events",
        h.kiosk_event("drv_unregistered_kiosk", await h.station(), "shower", datetime.now(UTC)),
    )

    async def refused() -> list[dict[str, object]] | None:
        found = (
            await h.db["checkins"]
            .find({"driver_id": {"$in": [driver, "drv_unregistered_kiosk"]}})
            .to_list(None)
        )
        return found if len(found) == 2 else None

    docs = await wait_until(refused)
    assert sorted((d["status"], d["reason"]) for d in docs) == [
        ("refused", "station_closed"),
        ("refused", "unknown_driver"),
    ]
    assert await h.events_of([driver, "drv_unregistered_kiosk"], at_least=0) == []


async def test_station_staff_record_checkins_only_at_their_own_station(h: Harness) -> None:
    h.clock.at = None
    mine, theirs = await h.station(), await h.station()
    driver = await h.driver()
    answer = await h.http.post(
        "/v1/checkins",
        json={"driver_id": driver, "station_id": theirs, "service_code": "shower"},
        headers=h.auth("station", station_id=mine),
    )
    assert answer.status_code == 403
    as_driver = await h.http.post(
        "/v1/checkins",
        json={"driver_id": driver, "station_id": mine, "service_code": "shower"},
        headers=h.auth("driver", driver_id=driver),
    )
    assert as_driver.status_code == 403
    unknown_field = await h.http.post(
        "/v1/checkins",
        json={"driver_id": driver, "station_id": mine, "service_code": "shower", "points": 99},
        headers=h.auth(),
    )
    assert unknown_field.status_code == 422


async def test_drivers_see_only_their_own_visits(h: Harness) -> None:
    h.clock.at = None
    station = await h.station()
    driver, other = await h.drivers(2)
    mine = (await h.checkin(driver, station, "shower")).json()
    await h.checkin(other, station, "shower")
    own = await h.http.get("/v1/checkins", headers=h.auth("driver", driver_id=driver))
    assert [c["checkin_id"] for c in own.json()["items"]] == [mine["checkin_id"]]
    snooping = await h.http.get(
        "/v1/checkins", params={"driver_id": other}, headers=h.auth("driver", driver_id=driver)
    )
    assert snooping.status_code == 403
    # Another's check-in answers exactly as one that does not exist, to drivers and stations.
    theirs, missing = mine["checkin_id"], f"{mine['checkin_id']}0"
    elsewhere = h.auth("station", station_id=await h.station())
    for headers, method, path in (
        (h.auth("driver", driver_id=other), "GET", ""),
        (elsewhere, "GET", ""),
        (elsewhere, "POST", "/checkout"),
    ):
        answers = [
            await h.http.request(method, f"/v1/checkins/{asked}{path}", headers=headers)
            for asked in (theirs, missing)
        ]
        assert [a.status_code for a in answers] == [404, 404], (method, path)
        assert problem_body(answers[0], theirs) == problem_body(answers[1], missing)
