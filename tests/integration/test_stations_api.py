"""Stations, access rules, open-now, activities and feedback over HTTP on the real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from common.events.stations import ActivityAttended
from common.testing import Infra
from tests.integration.stations_harness import Harness, start_harness
from tests.support import problem_body, training_body

NIGHT_AND_HOLIDAY_HOURS = {
    "week": {d: [{"opens": "20:00", "closes": "08:00"}] for d in ("mon", "tue", "wed", "thu")},
    "holidays": [{"opens": "09:00", "closes": "12:00"}],
}


@pytest.fixture(scope="module")
async def h(infra: Infra) -> AsyncIterator[Harness]:
    async for harness in start_harness(infra):
        yield harness


async def test_operators_add_stations_with_hours_grade_capacity_and_services(h: Harness) -> None:
    h.clock.at = None
    station_id = await h.station(
        kind="rest_stop",
        grade={"level": "5A", "graded_on": "2023-11-20", "graded_by": "中国公路学会"},
        contact={"phone": "0574-86800000"},
        services=[
            {"code": "shower"},
            {
                "code": "legal_aid",
                "hours": {"week": {"wed": [{"opens": "14:00", "closes": "17:00"}]}},
            },
        ],
    )
    station = (await h.http.get(f"/v1/stations/{station_id}", headers=h.auth("driver"))).json()
    assert station["grade"] == {
        "level": "5A",
        "graded_on": "2023-11-20",
        "graded_by": "中国公路学会",
    }
    assert station["capacity"] == {"beds": 10, "parking": 20, "showers": 4}
    assert station["free"] == {"beds": 10, "parking": 20}
    assert [s["code"] for s in station["services"]] == ["shower", "legal_aid"]
    again = await h.http.post(
        "/v1/stations",
        json={
            **{
                k: station[k]
                for k in ("name", "kind", "operator_org", "address", "location", "hours")
            },
            "station_id": station_id,
        },
        headers=h.auth(),
    )
    assert (again.status_code, again.json()["code"]) == (409, "station_exists")


async def test_a_station_refuses_bad_hours_unknown_services_and_operator_fields(h: Harness) -> None:
    base = {
        "name": "x",
        "kind": "drivers_home",
        "operator_org": "x",
        "address": "x",
        "location": {"lat": 29.9, "lng": 121.8},
        "hours": {"always_open": True},
    }
    cases = [
        {**base, "hours": {"week": {"mon": [{"opens": "25:00", "closes": "06:00"}]}}},
        {**base, "services": [{"code": "spa"}]},
        {**base, "grade": {"level": "6A", "graded_on": "2023-01-01", "graded_by": "x"}},
        {**base, "location": {"lat": 91, "lng": 0}},
        {**base, "free": {"beds": 100}},
        {**base, "name": {"$gt": ""}},
    ]
    for body in cases:
        answer = await h.http.post("/v1/stations", json=body, headers=h.auth())
        assert answer.status_code == 422, body


async def test_the_service_catalogue_is_grouped_by_the_drivers_life_stages(h: Harness) -> None:
    answer = (await h.http.get("/v1/services", headers=h.auth("driver"))).json()
    stages = [s["stage"] for s in answer["stages"]]
    assert stages == [
        "joining",
        "work",
        "family",
        "schooling",
        "health",
        "legal_aid",
        "skills",
        "retirement",
    ]
    work = next(s for s in answer["stages"] if s["stage"] == "work")["services"]
    assert {"bed", "shower", "laundry", "meals", "reading_room", "gym"} <= {s["code"] for s in work}
    assert next(s for s in work if s["code"] == "bed")["resource"] == "beds"


async def test_station_staff_manage_only_their_own_station_and_drivers_none(h: Harness) -> None:
    mine, theirs = await h.station(), await h.station()
    staff = h.auth("station", station_id=mine)
    ok = await h.http.patch(
        f"/v1/stations/{mine}", json={"status": "temporarily_closed"}, headers=staff
    )
    assert ok.status_code == 200 and ok.json()["status"] == "temporarily_closed"
    assert (
        await h.http.patch(f"/v1/stations/{theirs}", json={"status": "retired"}, headers=staff)
    ).status_code == 403
    grade = {"grade": {"level": "4A", "graded_on": "2024-01-01", "graded_by": "中国公路学会"}}
    assert (
        await h.http.patch(f"/v1/stations/{mine}", json=grade, headers=staff)
    ).status_code == 403
    assert (
        await h.http.patch(f"/v1/stations/{mine}", json=grade, headers=h.auth())
    ).status_code == 200
    driver = h.auth("driver", driver_id="drv_a")
    assert (
        await h.http.patch(f"/v1/stations/{mine}", json={"name": "x"}, headers=driver)
    ).status_code == 403
    assert (await h.http.post("/v1/stations", json={}, headers=staff)).status_code == 403
    assert (await h.http.get("/v1/stations/nearby?lat=29.9&lng=121.8")).status_code == 401


async def test_capacity_cannot_shrink_below_what_is_taken(h: Harness) -> None:
    h.clock.at = None
    station = await h.station(capacity={"beds": 2, "parking": 0})
    driver = await h.driver()
    assert (await h.checkin(driver, station, "bed")).status_code == 201
    shrink = await h.http.patch(
        f"/v1/stations/{station}", json={"capacity": {"beds": 0}}, headers=h.auth()
    )
    assert (shrink.status_code, shrink.json()["code"]) == (409, "capacity_in_use")
    fits = await h.http.patch(
        f"/v1/stations/{station}", json={"capacity": {"beds": 1, "showers": 6}}, headers=h.auth()
    )
    assert fits.status_code == 200
    assert fits.json()["capacity"] == {"beds": 1, "parking": 0, "showers": 6}
    assert fits.json()["free"] == {"beds": 0, "parking": 0}
    grow = await h.http.patch(
        f"/v1/stations/{station}", json={"capacity": {"beds": 4, "showers": 6}}, headers=h.auth()
    )
    assert grow.json()["free"]["beds"] == 3


async def test_open_now_follows_hours_across_midnight_and_on_public_holidays(h: Harness) -> None:
    station = await h.station(hours=NIGHT_AND_HOLIDAY_HOURS)

    async def open_at(moment: datetime) -> bool:
        h.clock.at = moment
        answer = await h.http.get(f"/v1/stations/{station}", headers=h.auth("driver"))
        return bool(answer.json()["open_now"])

    beijing = timedelta(hours=8)
    # Wednesday 2026-03-11, Beijing time: open 20:00 to 08:00 the next morning.
    assert await open_at(datetime(2026, 3, 11, 23, 30, tzinfo=UTC) - beijing)
    assert await open_at(datetime(2026, 3, 12, 7, 59, tzinfo=UTC) - beijing)
    assert not await open_at(datetime(2026, 3, 12, 8, 0, tzinfo=UTC) - beijing)
    assert not await open_at(datetime(2026, 3, 11, 19, 59, tzinfo=UTC) - beijing)
    # National Day (Thursday 2026-10-01): holiday hours 09:00-12:00 only; the Wednesday
    # night shift still runs into the holiday's small hours.
    assert await open_at(datetime(2026, 10, 1, 3, 0, tzinfo=UTC) - beijing)
    assert await open_at(datetime(2026, 10, 1, 10, 0, tzinfo=UTC) - beijing)
    assert not await open_at(datetime(2026, 10, 1, 21, 0, tzinfo=UTC) - beijing)
    # And the nearby search agrees.
    h.clock.at = datetime(2026, 10, 1, 21, 0, tzinfo=UTC) - beijing
    answer = await h.http.get(
        "/v1/stations/nearby",
        params={"lat": 29.888, "lng": 121.845, "radius_km": 1, "open_now": "true", "limit": 200},
        headers=h.auth("driver"),
    )
    assert station not in [i["station_id"] for i in answer.json()["items"]]
    h.clock.at = None


async def test_stations_are_listed_by_id_with_a_cursor(h: Harness) -> None:
    for _ in range(3):
        await h.station(kind="community_station")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "kind": "community_station", **({"cursor": cursor} if cursor else {})}
        page = (await h.http.get("/v1/stations", params=params, headers=h.auth())).json()
        seen += [s["station_id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 3 and seen == sorted(seen)


async def test_activity_registration_never_overbooks_under_concurrency(h: Harness) -> None:
    h.clock.at = None
    station = await h.station()
    starts = datetime.now(UTC) + timedelta(days=3)
    created = await h.http.post(
        f"/v1/stations/{station}/activities",
        json={
            "kind": "health_check",
            "title": "免费健康体检",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=3)).isoformat(),
            "capacity": 4,
        },
        headers=h.auth("station", station_id=station),
    )
    assert created.status_code == 201, created.text
    activity = created.json()["activity_id"]
    drivers = await h.drivers(10)
    answers = await asyncio.gather(
        *(
            h.http.post(
                f"/v1/activities/{activity}/registrations",
                headers=h.auth("driver", driver_id=d),
            )
            for d in drivers
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 4 + [409] * 6
    assert (await h.http.get(f"/v1/activities/{activity}", headers=h.auth())).json()[
        "seats_left"
    ] == 0
    winner = next(d for d, a in zip(drivers, answers, strict=True) if a.status_code == 200)
    again = await h.http.post(
        f"/v1/activities/{activity}/registrations", headers=h.auth("driver", driver_id=winner)
    )
    assert again.status_code == 200, "registering twice keeps the one seat"
    left = await h.http.delete(
        f"/v1/activities/{activity}/registrations/{winner}",
        headers=h.auth("driver", driver_id=winner),
    )
    assert left.json()["seats_left"] == 1
    listed = await h.http.get(f"/v1/stations/{station}/activities", headers=h.auth("driver"))
    assert [a["activity_id"] for a in listed.json()["items"]] == [activity]


async def test_attendance_is_announced_once_as_activity_attended(h: Harness) -> None:
    h.clock.at = None
    station = await h.station()
    staff = h.auth("station", station_id=station)
    starts = datetime.now(UTC) + timedelta(hours=1)
    activity = (
        await h.http.post(
            f"/v1/stations/{station}/activities",
            json={
                "kind": "market",
                "title": "红领集市",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=4)).isoformat(),
                "capacity": 200,
                "registration_required": False,
            },
            headers=staff,
        )
    ).json()["activity_id"]
    driver, unregistered = await h.drivers(2)
    first = await h.http.post(
        f"/v1/activities/{activity}/attendance", json={"driver_id": driver}, headers=staff
    )
    again = await h.http.post(
        f"/v1/activities/{activity}/attendance", json={"driver_id": driver}, headers=staff
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["attendance_id"] == again.json()["attendance_id"]
    events = await h.events_of([driver], at_least=1)
    assert [(e.type, e.id) for e in events] == [
        ("activity.attended.v1", first.json()["attendance_id"])
    ]
    data = ActivityAttended.model_validate(events[0].data)
    assert (data.activity_id, data.activity_kind, data.station_id) == (activity, "market", station)

    training = (
        await h.http.post(
            f"/v1/stations/{station}/activities",
            json=training_body(starts, 20),
            headers=staff,
        )
    ).json()["activity_id"]
    refused = await h.http.post(
        f"/v1/activities/{training}/attendance", json={"driver_id": unregistered}, headers=staff
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "not_registered")
    other_staff = h.auth("station", station_id=await h.station())
    assert (
        await h.http.post(
            f"/v1/activities/{training}/attendance", json={"driver_id": driver}, headers=other_staff
        )
    ).status_code == 403
    # Who attended: the station's staff (and activities:manage) read it, other stations not.
    listed = await h.http.get(f"/v1/activities/{activity}/attendance", headers=staff)
    assert [a["driver_id"] for a in listed.json()["items"]] == [driver]
    refusals = [
        await h.http.get(f"/v1/activities/{activity}/attendance", headers=who)
        for who in (other_staff, h.auth("driver", driver_id=driver))
    ]
    assert [r.status_code for r in refusals] == [403, 403]


async def test_drivers_rate_their_own_visits_once_and_stations_show_the_average(
    h: Harness,
) -> None:
    h.clock.at = None
    station = await h.station()
    driver, other = await h.drivers(2)
    visits = [(await h.checkin(d, station, "shower")).json()["checkin_id"] for d in (driver, other)]
    rate = [
        await h.http.post(
            f"/v1/checkins/{visit}/feedback",
            json={"rating": rating, "comment": comment},
            headers=h.auth("driver", driver_id=who),
        )
        for visit, who, rating, comment in (
            (visits[0], driver, 5, "热水很足"),
            (visits[1], other, 2, None),
        )
    ]
    assert [r.status_code for r in rate] == [201, 201]
    twice = await h.http.post(
        f"/v1/checkins/{visits[0]}/feedback",
        json={"rating": 1},
        headers=h.auth("driver", driver_id=driver),
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "feedback_exists")
    not_mine = await h.http.post(
        f"/v1/checkins/{visits[1]}/feedback",
        json={"rating": 1},
        headers=h.auth("driver", driver_id=driver),
    )
    never = await h.http.post(
        f"/v1/checkins/{visits[1]}0/feedback",
        json={"rating": 1},
        headers=h.auth("driver", driver_id=driver),
    )
    # Another driver's visit answers exactly as one that does not exist.
    assert (not_mine.status_code, never.status_code) == (404, 404)
    assert problem_body(not_mine, visits[1]) == problem_body(never, f"{visits[1]}0")
    out_of_range = await h.http.post(
        f"/v1/checkins/{visits[1]}/feedback",
        json={"rating": 6},
        headers=h.auth("driver", driver_id=other),
    )
    assert out_of_range.status_code == 422
    summary = (
        await h.http.get(f"/v1/stations/{station}/feedback", headers=h.auth("driver"))
    ).json()
    assert (summary["count"], summary["average"]) == (2, 3.5)
    assert {f["comment"] for f in summary["recent"]} == {"热水很足", None}
    # No check-in id: the station could turn one into the driver who wrote the comment.
    staff = h.auth("station", station_id=station)
    seen_by_staff = await h.http.get(f"/v1/stations/{station}/feedback", headers=staff)
    assert seen_by_staff.status_code == 200
    assert not any(visit in seen_by_staff.text for visit in visits)
    assert {key for f in summary["recent"] for key in f} == {"rating", "comment", "created_at"}


async def test_xuechengs_one_plus_x_plus_y_network_is_a_tree_with_figures_per_level(
    h: Harness,
) -> None:
    """seeds/002:35: 1 党群服务中心 at the core, 3 司机之家 supporting it, 20 司机驿站 assisting."""
    hub = await h.station(
        name="薛城区交通物流行业党群服务中心", kind="service_centre", network={"level": "hub"}
    )
    homes = [
        await h.station(name=f"奚仲故里司机之家{n}", network={"level": "home", "parent_id": hub})
        for n in range(3)
    ]
    posts = [await h.station(name=f"红色司机驿站{n}", kind="rest_stop") for n in range(20)]
    for post in posts:
        placed = await h.http.put(
            f"/v1/stations/{post}/network",
            json={"level": "post", "parent_id": hub},
            headers=h.auth(),
        )
        assert placed.status_code == 200 and placed.json()["network"]["parent_id"] == hub
    closed = await h.http.patch(
        f"/v1/stations/{posts[0]}", json={"status": "temporarily_closed"}, headers=h.auth()
    )
    assert closed.status_code == 200, closed.text

    tree = await h.http.get(f"/v1/networks/{hub}", headers=h.auth("driver", driver_id="d-1"))
    assert tree.status_code == 200, tree.text
    view = tree.json()
    assert (view["formula"], view["figures"]) == ("1+3+20", {"hub": 1, "home": 3, "post": 20})
    assert view["open"] == {"hub": 1, "home": 3, "post": 19}
    assert view["hub"]["station_id"] == hub
    assert [s["station_id"] for s in view["homes"]] == sorted(homes)
    listed = (await h.http.get("/v1/networks", headers=h.auth())).json()["items"]
    assert [n["formula"] for n in listed if n["hub"]["station_id"] == hub] == ["1+3+20"]

    refusals = {
        "under a home, not the hub": await h.http.put(
            f"/v1/stations/{posts[1]}/network",
            json={"level": "post", "parent_id": homes[0]},
            headers=h.auth(),
        ),
        "a hub with a parent": await h.http.put(
            f"/v1/stations/{homes[0]}/network",
            json={"level": "hub", "parent_id": hub},
            headers=h.auth(),
        ),
        "a home without its hub": await h.http.put(
            f"/v1/stations/{homes[0]}/network", json={"level": "home"}, headers=h.auth()
        ),
        "a hub that still has members": await h.http.delete(
            f"/v1/stations/{hub}/network", headers=h.auth()
        ),
        "station staff, even their own": await h.http.put(
            f"/v1/stations/{posts[1]}/network",
            json={"level": "post", "parent_id": hub},
            headers=h.auth("station", station_id=posts[1]),
        ),
        "a station that is not a hub": await h.http.get(
            f"/v1/networks/{homes[0]}", headers=h.auth()
        ),
    }
    assert {why: r.status_code for why, r in refusals.items()} == {
        "under a home, not the hub": 422,
        "a hub with a parent": 422,
        "a home without its hub": 422,
        "a hub that still has members": 409,
        "station staff, even their own": 403,
        "a station that is not a hub": 404,
    }
    assert all(
        r.headers["content-type"].startswith("application/problem+json") for r in refusals.values()
    )
    left = await h.http.delete(f"/v1/stations/{posts[1]}/network", headers=h.auth())
    assert left.status_code == 200 and left.json()["network"] is None
    after = (await h.http.get(f"/v1/networks/{hub}", headers=h.auth())).json()
    assert after["formula"] == "1+3+19"
