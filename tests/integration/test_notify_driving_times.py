"""notify's driving state against report times gone wrong, on the real broker and store.

Stations dead-letters a partner's driving report dated ahead of its clock
(test_stations_partner_times.py); these are notify's own defences for such a record already on
``stations.events``: one dated far ahead is ignored, one a little ahead counts the drive from
notify's clock, and a far-ahead report time stored before these checks gives way to the next
genuine report instead of shadowing it (and holding the driver's messages) until its date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from common.clock import ManualClock
from common.events import CloudEvent, EventData, new_event
from common.events.registry import DriverRegistered
from common.events.stations import DrivingReported, RestNudged
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_delivery import notifications
from tests.support import produce, serve

STATIONS = "driverhome/stations"


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(NotifySettings, dispatch_interval_seconds=0.1)


def _event(data: EventData, driver_id: str, source: str, at: datetime) -> CloudEvent:
    return new_event(data, source=source, subject=driver_id, time=at)


def _report(
    driver_id: str, at: datetime, state: Literal["driving", "ended"] = "driving"
) -> CloudEvent:
    data = DrivingReported(
        driver_id=driver_id,
        session_id="trip-1",
        state=state,
        continuous_minutes=95,
        reported_at=at,
    )
    return _event(data, driver_id, STATIONS, at)


def _nudge(driver_id: str) -> CloudEvent:
    now = datetime.now(UTC)
    data = RestNudged(
        driver_id=driver_id,
        nudge_id=unique_name("rn_"),
        continuous_minutes=250,
        station_id="stn_x",
        station_name="霞浦集卡司机之家",
        distance_km=2.1,
        travel_minutes=4,
        check_in_by=now + timedelta(hours=4),
        nudged_at=now,
    )
    return _event(data, driver_id, STATIONS, now)


async def _publish(infra: Infra, settings: NotifySettings, topic: str, event: CloudEvent) -> None:
    # Keyed by the driver, as stations publishes: one driver's events are read in order.
    await produce(
        infra.kafka_bootstrap, settings.topic(topic), event.to_bytes(), key=event.subject.encode()
    )


async def _known_driver(infra: Infra, settings: NotifySettings, mongo: Any) -> str:
    driver = unique_name("drv_")
    registered = DriverRegistered(
        driver_id=driver, channel="operator", registered_at=datetime.now(UTC), language="en"
    )
    event = _event(registered, driver, "driverhome/registry", registered.registered_at)
    await _publish(infra, settings, "registry.events", event)
    await wait_until(lambda: _facts(mongo, settings, driver))
    return driver


async def _facts(mongo: Any, settings: NotifySettings, driver: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await mongo[settings.mongo_db]["drivers"].find_one(
        {"_id": driver}
    )
    return found


async def test_a_report_dated_far_ahead_holds_nothing(
    infra: Infra, settings: NotifySettings, mongo: Any
) -> None:
    async with serve(create_app(settings)):
        driver = await _known_driver(infra, settings, mongo)
        far_ahead = _report(driver, datetime(2035, 1, 1, tzinfo=UTC))
        await _publish(infra, settings, "stations.events", far_ahead)
        # The nudge follows the report on the driver's partition: once it is stored, the report
        # has been read.
        await _publish(infra, settings, "stations.events", _nudge(driver))
        await wait_until(lambda: notifications(mongo, settings, driver_id=driver, category="rest"))
        facts = await _facts(mongo, settings, driver)
    assert facts is not None
    assert facts.get("driving_until") is None, "a report dated 2035 holds nothing until 2035"
    assert facts.get("driving_reported_at") is None


async def test_a_report_a_little_ahead_counts_the_drive_from_notifys_clock(
    infra: Infra, settings: NotifySettings, mongo: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(now)
    async with serve(create_app(settings, clock=clock)):
        driver = await _known_driver(infra, settings, mongo)
        ahead = now + timedelta(minutes=8)  # within the clocks' drift notify allows
        await _publish(infra, settings, "stations.events", _report(driver, ahead))

        async def noted() -> dict[str, Any] | None:
            facts = await _facts(mongo, settings, driver)
            return facts if facts and facts.get("driving_reported_at") else None

        facts = await wait_until(noted)
    assert facts["driving_reported_at"] == ahead
    assert facts["driving_until"] == now + timedelta(minutes=settings.driving_stale_minutes)


async def test_a_stored_report_time_far_ahead_gives_way_to_the_drives_end(
    infra: Infra, settings: NotifySettings, mongo: Any
) -> None:
    async with serve(create_app(settings)):
        driver = await _known_driver(infra, settings, mongo)
        # As a notify without these checks stored a report dated 2035.
        poisoned = datetime(2035, 1, 1, tzinfo=UTC)
        await mongo[settings.mongo_db]["drivers"].update_one(
            {"_id": driver},
            {
                "$set": {
                    "driving_reported_at": poisoned,
                    "driving_until": poisoned + timedelta(minutes=30),
                }
            },
        )
        ended = datetime.now(UTC).replace(microsecond=0)
        await _publish(infra, settings, "stations.events", _report(driver, ended, "ended"))

        async def stopped() -> dict[str, Any] | None:
            facts = await _facts(mongo, settings, driver)
            return facts if facts and facts.get("driving_reported_at") == ended else None

        facts = await wait_until(stopped)
    assert facts["driving_until"] is None
