"""Stations against concurrent and hostile use: two capacity changes at once, a capacity change
naming one resource, a unit taken at a station closed meanwhile, a check-in that fails after
taking a bed, a bed held for a check-in never stored, and ratings (one per counted visit, no
phone or ID number in a public comment). One stations app on the real broker and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.testing import Infra, dead_letters, synthetic_phone, wait_until
from stations.domain import CapacityInUse
from stations.holds import OrphanHolds
from stations.store.checkins import CheckinStore
from stations.store.stations import StationStore
from tests.integration.stations_harness import Harness, start_harness
from tests.support import training_body


@pytest.fixture(scope="module")
async def h(infra: Infra) -> AsyncIterator[Harness]:
    async for harness in start_harness(infra, expects_dlq=("station_not_yours",)):
        yield harness


async def capacity(h: Harness, station: str) -> dict[str, Any]:
    answer = await h.http.get(f"/v1/stations/{station}", headers=h.auth())
    return dict(answer.json()["capacity"])


async def test_a_capacity_change_computed_on_an_older_read_is_refused_not_added(
    h: Harness,
) -> None:
    """Two people set beds to 15 at once: both read 10. The second, computed on that read,
    must not add another 5."""
    station = await h.station()  # 10 beds
    directory = h.app.state.stations.directory
    stale = [await directory.get_station(station)]
    first = await h.http.patch(
        f"/v1/stations/{station}", json={"capacity": {"beds": 15}}, headers=h.auth()
    )
    assert first.status_code == 200, first.text
    real_read = directory.get_station

    async def read_before_the_other_change(wanted: str) -> Any:
        return stale.pop() if stale else await real_read(wanted)

    directory.get_station = read_before_the_other_change
    try:
        with pytest.raises(CapacityInUse):
            await directory.change_station(station, {"capacity": {"beds": 15}})
    finally:
        directory.get_station = real_read
    assert (await capacity(h, station))["beds"] == 15


async def test_a_capacity_change_naming_beds_keeps_the_parking(h: Harness) -> None:
    station = await h.station()  # 10 beds, 20 parking, 4 showers
    changed = await h.http.patch(
        f"/v1/stations/{station}", json={"capacity": {"beds": 12}}, headers=h.auth()
    )
    assert changed.status_code == 200, changed.text
    assert await capacity(h, station) == {"beds": 12, "parking": 20, "showers": 4}


async def test_no_unit_is_taken_at_a_station_closed_meanwhile(h: Harness) -> None:
    station = await h.station()
    closed = await h.http.patch(
        f"/v1/stations/{station}", json={"status": "temporarily_closed"}, headers=h.auth()
    )
    assert closed.status_code == 200, closed.text
    # What a check-in that read the station as open before the close then does.
    assert not await StationStore(h.db).take(station, "beds", "chk-after-close")


async def test_a_check_in_that_fails_after_taking_a_bed_gives_it_back(h: Harness) -> None:
    station, driver = await h.station(capacity={"beds": 1, "parking": 0}), await h.driver()
    checkins = h.app.state.stations.checkins
    real_insert = checkins._checkins.insert

    async def store_down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the store went away")

    checkins._checkins.insert = store_down
    try:
        with pytest.raises(ConnectionError):
            await h.checkin(driver, station, "bed")
    finally:
        checkins._checkins.insert = real_insert
    occupancy = (await h.http.get(f"/v1/stations/{station}/occupancy", headers=h.auth())).json()
    assert occupancy["free"]["beds"] == 1
    assert (await h.checkin(driver, station, "bed")).status_code == 201


async def test_one_rating_per_counted_visit_and_no_number_in_a_comment(h: Harness) -> None:
    station, driver = await h.station(), await h.driver()
    first = (await h.checkin(driver, station, "meals")).json()
    again = (await h.checkin(driver, station, "meals")).json()  # within the window
    assert (first["status"], again["status"]) == ("counted", "duplicate")
    me = h.auth("driver", driver_id=driver)

    def rate(checkin_id: str, **body: Any) -> Any:
        return h.http.post(
            f"/v1/checkins/{checkin_id}/feedback", json={"rating": 5, **body}, headers=me
        )

    assert (await rate(again["checkin_id"])).status_code == 404
    numbered = await rate(first["checkin_id"], comment=f"热水好,有事打 {synthetic_phone()}")
    assert numbered.status_code == 422, numbered.text
    assert "comment" in numbered.text and synthetic_phone()[:3] not in numbered.json()["detail"]
    assert (await rate(first["checkin_id"], comment="热水好,床铺干净")).status_code == 201


async def test_a_kiosk_partner_reports_only_for_the_stations_that_name_it(h: Harness) -> None:
    """Another station's use would count, and earn points, on the kiosk partner's word alone:
    refused to the dead-letter queue, nothing stored at that station."""
    theirs = await h.station()  # names station-kiosk
    other = await h.station(kiosk_partners=[])
    driver = await h.driver()
    used_at = datetime.now(UTC) - timedelta(minutes=5)
    foreign = h.kiosk_event(driver, other, "shower", used_at)
    await h.publish("partner.station-kiosk.events", foreign)
    await h.publish("partner.station-kiosk.events", h.kiosk_event(driver, theirs, "meals", used_at))

    async def control_recorded() -> bool:
        return bool(await h.db["checkins"].count_documents({"station_id": theirs}) == 1)

    await wait_until(control_recorded, timeout=30)

    async def refused() -> list[Any]:
        found = await dead_letters(h.infra.kafka_bootstrap, h.settings.topic_prefix)
        return [
            r
            for r in found
            if dict(r.headers).get("dlq-reason") == b"station_not_yours"
            and foreign.id.encode() in (r.value or b"")
        ]

    assert await wait_until(refused, timeout=30)
    assert await h.db["checkins"].count_documents({"station_id": other}) == 0
    staff = h.auth("station", station_id=theirs, sub=f"desk-{theirs}")
    named = await h.http.patch(
        f"/v1/stations/{theirs}", json={"kiosk_partners": ["rogue-kiosk"]}, headers=staff
    )
    assert named.status_code == 403, "whose kiosks report at a station is the operators' word"


async def test_a_unit_held_for_a_check_in_never_stored_goes_back_after_the_grace(
    h: Harness,
) -> None:
    """A process died between taking a bed and storing its check-in, and no retry came: the
    bed must not stay taken for good. A hold whose check-in arrives late keeps its bed."""
    station, driver = await h.station(capacity={"beds": 3, "parking": 0}), await h.driver()
    units = StationStore(h.db)
    assert await units.take(station, "beds", "chk-died")
    assert await units.take(station, "beds", "chk-late")
    assert (await h.checkin(driver, station, "bed")).status_code == 201
    now = [datetime.now(UTC)]
    orphans = OrphanHolds(
        h.db, units, CheckinStore(h.db), grace=timedelta(minutes=10), clock=lambda: now[0]
    )

    async def free_beds() -> int:
        answer = await h.http.get(f"/v1/stations/{station}/occupancy", headers=h.auth())
        return int(answer.json()["free"]["beds"])

    await orphans.reconcile()
    assert await free_beds() == 0, "within the grace: an attempt may still be storing it"
    # The late one's check-in is stored after all (a retry with the same id).
    await h.db["checkins"].insert_one({"_id": "chk-late", "station_id": station})
    now[0] += timedelta(minutes=9)
    await orphans.reconcile()
    assert await free_beds() == 0
    now[0] += timedelta(minutes=2)
    await orphans.reconcile()
    assert await free_beds() == 1, "the dead attempt's bed is back, the others still held"
    assert not await units.holds(station, "beds", "chk-died")
    assert await units.holds(station, "beds", "chk-late")
    assert await h.db["orphan_holds"].count_documents({"station_id": station}) == 0


async def training_of_five(h: Harness) -> tuple[dict[str, str], str]:
    """A new station's staff headers, and a training there with five seats (registration
    required) starting in an hour."""
    station = await h.station()
    staff = h.auth("station", station_id=station)
    starts = datetime.now(UTC) + timedelta(hours=1)
    created = await h.http.post(
        f"/v1/stations/{station}/activities",
        json=training_body(starts, 5),
        headers=staff,
    )
    assert created.status_code == 201, created.text
    return staff, str(created.json()["activity_id"])


async def test_a_cancellation_racing_an_attendance_never_frees_the_seat_of_an_attendee(
    h: Harness,
) -> None:
    """Staff record a driver's attendance while the driver cancels the registration: the seat
    goes back only if no attendance (and its points) is recorded."""
    staff, activity = await training_of_five(h)
    driver = await h.driver()
    mine = h.auth("driver", driver_id=driver)
    registered = await h.http.post(f"/v1/activities/{activity}/registrations", headers=mine)
    assert registered.status_code == 200, registered.text
    store = h.app.state.stations.activities._activities
    checked = store.mark_attending
    cancelled: list[int] = []

    async def cancelled_right_after(activity_id: str, driver_id: str) -> bool:
        found = await checked(activity_id, driver_id)
        answer = await h.http.delete(
            f"/v1/activities/{activity_id}/registrations/{driver_id}", headers=mine
        )
        cancelled.append(answer.status_code)
        return bool(found)

    store.mark_attending = cancelled_right_after
    try:
        attended = await h.http.post(
            f"/v1/activities/{activity}/attendance", json={"driver_id": driver}, headers=staff
        )
    finally:
        store.mark_attending = checked
    assert attended.status_code == 201, attended.text
    assert cancelled == [409], "the attendee's cancellation is refused"
    seats = (await h.http.get(f"/v1/activities/{activity}", headers=h.auth())).json()
    assert seats["seats_left"] == 4, "the attendee keeps the seat"
    late = await h.http.delete(f"/v1/activities/{activity}/registrations/{driver}", headers=mine)
    assert (late.status_code, late.json()["code"]) == (409, "already_attended")


async def test_station_staff_keep_their_hours_and_capacity_but_not_where_it_stands(
    h: Harness,
) -> None:
    """Staff keep their station's day-to-day facts; its place, the road it is reached by (they
    set travel times: rest nudges, the service circle, impossible travel) and whether it exists
    are the operators' word."""
    station = await h.station()
    staff = h.auth("station", station_id=station)

    async def change(body: dict[str, Any], who: dict[str, str]) -> int:
        answer = await h.http.patch(f"/v1/stations/{station}", json=body, headers=who)
        return int(answer.status_code)

    assert await change({"hours": {"always_open": True}, "capacity": {"beds": 12}}, staff) == 200
    assert await change({"status": "temporarily_closed"}, staff) == 200
    assert await change({"road_class": "expressway"}, staff) == 403
    assert await change({"location": {"lat": 29.95, "lng": 121.9}}, staff) == 403
    assert await change({"status": "retired"}, staff) == 403
    assert await change({"status": "retired"}, h.auth()) == 200
    assert await change({"status": "open"}, staff) == 403, "a retired station stays retired"
    shown = (await h.http.get(f"/v1/stations/{station}", headers=h.auth())).json()
    assert (shown["status"], shown["road_class"]) == ("retired", "urban")


async def test_an_attendance_recorded_before_the_mark_still_keeps_the_seat(h: Harness) -> None:
    """Attendances stored before a registration was marked on attendance: the driver's
    cancellation is refused all the same."""
    staff, activity = await training_of_five(h)
    driver = await h.driver()
    mine = h.auth("driver", driver_id=driver)
    assert (
        await h.http.post(f"/v1/activities/{activity}/registrations", headers=mine)
    ).status_code == 200
    attended = await h.http.post(
        f"/v1/activities/{activity}/attendance", json={"driver_id": driver}, headers=staff
    )
    assert attended.status_code == 201, attended.text
    # As such an activity is stored: the attendance, and no mark on the registration.
    await h.db["activities"].update_one({"_id": activity}, {"$unset": {"attended": ""}})
    late = await h.http.delete(f"/v1/activities/{activity}/registrations/{driver}", headers=mine)
    assert (late.status_code, late.json()["code"]) == (409, "already_attended")
    seats = (await h.http.get(f"/v1/activities/{activity}", headers=h.auth())).json()
    assert seats["seats_left"] == 4
