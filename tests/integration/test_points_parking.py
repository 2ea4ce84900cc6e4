"""Points' held events on the real broker and store: announced once, given up in their place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.dlq import dlq_topic
from common.events import CloudEvent, new_event, parse_envelope
from common.events.partner import VolunteerLogged
from common.testing import Infra, headers_of, read_topic, unique_name, wait_until
from points.app import create_app
from points.settings import PointsSettings
from tests.integration.test_points_ledger import balance_is, registered, send
from tests.support import serve

PARTNER_TOPIC = "partner.volunteer-team.events"


def volunteer_at(driver_id: str, hours: float, at: datetime) -> CloudEvent:
    # Dated by the service's clock: points refuses events dated ahead of it (event_in_future).
    return new_event(
        VolunteerLogged(driver_id=driver_id, activity="港区道路清洁", hours=hours, logged_at=at),
        source="partner/volunteer-team",
        subject=driver_id,
    )


def parked_announcements(records: list[Any], driver: str) -> list[Any]:
    return [
        e
        for e in (parse_envelope(r.value) for r in records)
        if e.type == "points.event_parked.v1" and e.subject == driver
    ]


async def test_a_held_event_is_announced_once_with_its_cause_and_its_end(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    settings = make_settings(PointsSettings, parked_hold_days=7)
    driver = unique_name("drv_")
    event = volunteer_at(driver, 3, now)
    async with serve(create_app(settings, clock=lambda: now)):
        for _ in range(3):
            await send(infra, settings, PARTNER_TOPIC, event)
        parked = mongo[settings.mongo_db]["parked"]
        await wait_until(lambda: parked.find_one({"driver_id": driver, "outbox.0": {"$exists": 0}}))
        records = await read_topic(infra.kafka_bootstrap, settings.topic("points.events"))
    [announced] = parked_announcements(records, driver)
    assert announced.data["cause_source"] == "partner/volunteer-team"
    assert announced.data["cause_id"] == event.id
    assert announced.data["cause_type"] == "volunteer.logged.v1"
    assert announced.data["reason"] == "driver_unknown"
    assert datetime.fromisoformat(announced.data["parked_until"]) == now + timedelta(days=7)
    assert await parked.count_documents({"driver_id": driver}) == 1


@pytest.mark.expects_dlq("driver_unknown")
async def test_an_event_held_too_long_is_dead_lettered_where_it_came_from_and_credits_nothing(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    now = [datetime(2026, 12, 3, 8, 0, tzinfo=UTC)]
    settings = make_settings(PointsSettings, parked_hold_days=7)
    driver = unique_name("drv_")
    event = volunteer_at(driver, 2, now[0])
    app = create_app(settings, clock=lambda: now[0])
    async with serve(app):
        await send(infra, settings, PARTNER_TOPIC, event)
        parked = mongo[settings.mongo_db]["parked"]
        await wait_until(lambda: parked.find_one({"driver_id": driver}))
        service = app.state.service
        assert await service.sweep_parked() == 0  # not yet due
        now[0] += timedelta(days=7, seconds=1)
        assert await service.sweep_parked() == 1
        assert await parked.count_documents({"driver_id": driver}) == 0
        [letter] = await read_topic(infra.kafka_bootstrap, dlq_topic(settings.topic(PARTNER_TOPIC)))
        # The driver registers after the event was given up: nothing is credited.
        await send(infra, settings, "registry.events", registered(driver))
        accounts = mongo[settings.mongo_db]["accounts"]
        await wait_until(lambda: accounts.find_one({"_id": driver}))
    assert parse_envelope(letter.value).id == event.id
    headers = headers_of(letter)
    assert headers["dlq-reason"] == "driver_unknown"
    assert headers["dlq-original-topic"] == settings.topic(PARTNER_TOPIC)
    assert headers["dlq-consumer-group"] == f"{settings.topic_prefix}points.partners"
    assert int(headers["dlq-original-offset"]) >= 0
    assert await balance_is(mongo, settings, driver, 0)


async def test_an_account_opened_before_the_end_gets_the_points_and_nothing_is_given_up(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    now = [datetime(2026, 12, 3, 8, 0, tzinfo=UTC)]
    settings = make_settings(PointsSettings, parked_hold_days=7)
    driver = unique_name("drv_")
    app = create_app(settings, clock=lambda: now[0])
    async with serve(app):
        event = volunteer_at(driver, 2, now[0])
        await send(infra, settings, PARTNER_TOPIC, event)
        parked = mongo[settings.mongo_db]["parked"]
        await wait_until(lambda: parked.find_one({"driver_id": driver}))
        await send(infra, settings, "registry.events", registered(driver))
        await wait_until(lambda: balance_is(mongo, settings, driver, 20))
        now[0] += timedelta(days=30)
        assert await app.state.service.sweep_parked() == 0
    assert await parked.count_documents({"driver_id": driver}) == 0
