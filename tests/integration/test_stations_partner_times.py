"""Partner times stations cannot take as given, on the real broker and store: a kiosk use dated
ahead of the service's clock or long past, and a driving report dated ahead, go to the
dead-letter queue and change nothing (no check-in, no last use, no announcement); uses and
reports within the bounds go on as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.events import CloudEvent, new_event
from common.events.partner import DrivingSession
from common.events.registry import DriverUpdated
from common.testing import Infra, dead_letters, wait_until
from stations.domain import derived_id
from tests.integration.stations_harness import Harness, start_harness

KIOSK_TOPIC = "partner.station-kiosk.events"
BOOKING_TOPIC = "partner.port-booking.events"
SHANGHAI = {"lat": 31.2304, "lng": 121.4737}  # ~145 km from the Beilun stations


@pytest.fixture(scope="module")
async def h(infra: Infra) -> AsyncIterator[Harness]:
    reasons = ("used_at_out_of_range", "reported_at_in_future")
    async for harness in start_harness(infra, expects_dlq=reasons):
        yield harness


async def _dead_lettered(h: Harness, reason: str, event: CloudEvent) -> list[Any]:
    async def found() -> list[Any]:
        records = await dead_letters(h.infra.kafka_bootstrap, h.settings.topic_prefix)
        return [
            r
            for r in records
            if dict(r.headers).get("dlq-reason") == reason.encode()
            and event.id.encode() in (r.value or b"")
        ]

    return await wait_until(found, timeout=30)


async def _checkins(h: Harness, driver: str, count: int) -> list[dict[str, Any]]:
    async def recorded() -> list[dict[str, Any]] | None:
        docs: list[dict[str, Any]] = await h.db["checkins"].find({"driver_id": driver}).to_list()
        return docs if len(docs) >= count else None

    return await wait_until(recorded, timeout=30)


@pytest.mark.parametrize(
    "offset",
    [timedelta(days=365), timedelta(minutes=30), -timedelta(days=8)],
    ids=["a_year_ahead", "half_an_hour_ahead", "eight_days_old"],
)
async def test_a_kiosk_use_dated_out_of_range_is_dead_lettered_and_changes_nothing(
    h: Harness, offset: timedelta
) -> None:
    h.clock.at = None
    station, driver = await h.station(), await h.driver()
    now = datetime.now(UTC)
    wrong = h.kiosk_event(driver, station, "shower", now + offset)
    await h.publish(KIOSK_TOPIC, wrong)
    # Within the bounds on either side (a kiosk back online after days, a clock a little
    # ahead): both count, each its own service so that no window lies between them.
    late = h.kiosk_event(driver, station, "meals", now - timedelta(days=6))
    ahead = h.kiosk_event(driver, station, "rest", now + timedelta(minutes=2))
    for event in (late, ahead):
        await h.publish(KIOSK_TOPIC, event)

    [dead] = await _dead_lettered(h, "used_at_out_of_range", wrong)
    assert b"used_at" in dict(dead.headers)["dlq-error"]
    docs = await _checkins(h, driver, 2)
    assert sorted((d["service_code"], d["status"]) for d in docs) == [
        ("meals", "counted"),
        ("rest", "counted"),
    ]
    wrong_id = derived_id("ci", "kiosk", wrong.source, wrong.id)
    assert await h.db["checkins"].find_one({"_id": wrong_id}) is None
    facts = await h.db["drivers"].find_one({"_id": driver})
    assert facts["last"]["at"] <= now + timedelta(minutes=h.settings.partner_max_future_minutes)
    assert await h.db["use_windows"].find_one({"_id": f"{driver}\x1f{station}\x1fshower"}) is None
    events = await h.events_of([driver], at_least=2)
    assert len(events) == 2, "only the two uses within the bounds are announced"


async def test_a_use_dated_ahead_cannot_blind_the_impossible_travel_check(h: Harness) -> None:
    """A use dated a year ahead would become the driver's last use: every later use, however
    far away, would be judged a year apart from it, and none ever flagged."""
    h.clock.at = None
    beilun = await h.station()
    shanghai = await h.station(location=SHANGHAI, name="上海司机之家")
    driver = await h.driver()
    now = datetime.now(UTC)
    forged = h.kiosk_event(driver, beilun, "meals", now + timedelta(days=365))
    here = h.kiosk_event(driver, beilun, "shower", now - timedelta(minutes=10))
    there = h.kiosk_event(driver, shanghai, "shower", now - timedelta(minutes=5))  # 145 km
    for event in (forged, here, there):
        await h.publish(KIOSK_TOPIC, event)

    await _dead_lettered(h, "used_at_out_of_range", forged)
    docs = await _checkins(h, driver, 2)
    assert sorted((d["station_id"], d["status"]) for d in docs) == sorted(
        [(beilun, "counted"), (shanghai, "flagged")]
    )


def _session(driver_id: str, trip: str, at: datetime) -> CloudEvent:
    data = DrivingSession(
        driver_id=driver_id,
        session_id=trip,
        continuous_minutes=95,
        lat=29.9,
        lng=121.86,
        reported_at=at,
    )
    return new_event(data, source="partner/port-booking", subject=driver_id)


@pytest.mark.parametrize(
    "ahead",
    [timedelta(days=365), timedelta(minutes=30)],
    ids=["a_year_ahead", "half_an_hour_ahead"],
)
async def test_a_driving_report_dated_ahead_is_dead_lettered_and_not_announced(
    h: Harness, ahead: timedelta
) -> None:
    """Announced, it would hold the driver's non-urgent messages at notify until its date, and
    every genuine report after it, even the drive's end, would look older there."""
    h.clock.at = None
    driver = await h.driver()
    now = datetime.now(UTC)
    consent = DriverUpdated(
        driver_id=driver,
        changed_fields=["consents.location"],
        updated_at=now,
        consents={"location": True},
    )
    await h.publish(
        "registry.events", new_event(consent, source="driverhome/registry", subject=driver)
    )

    async def consenting() -> bool:
        query = {"_id": driver, "consents.location": True}
        return await h.db["drivers"].count_documents(query) == 1

    await wait_until(consenting)
    forged = _session(driver, "trip-ahead", now + ahead)
    await h.publish(BOOKING_TOPIC, forged)
    await h.publish(BOOKING_TOPIC, _session(driver, "trip-now", now))

    await _dead_lettered(h, "reported_at_in_future", forged)
    events = await h.events_of([driver], at_least=1)
    assert [(e.type, e.data["session_id"]) for e in events] == [("driving.reported.v1", "trip-now")]
