"""Partner data that repeats the envelope: the handbook's examples pass as printed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from common.testing import Infra, headers_of, read_topic, unique_name, wait_until
from points.app import create_app
from points.settings import PointsSettings
from tests.integration.test_points_ledger import balance_is, registered, send
from tests.support import produce
from tests.support import serve as serve_points

# Handbook section 2, byte for byte but for the two placeholders it prints.
HANDBOOK_EXAMPLE = """{"specversion": "1.0", "id": "6f1c…", "source": "partner/port-booking",
 "type": "port.appointment.kept.v1", "subject": "<driver_id>",
 "time": "2026-11-23T08:15:00Z", "datacontenttype": "application/json",
 "data": {"appointment_id": "A-889", "terminal": "BL2", "on_time": true}}"""

TOPIC = "partner.port-booking.events"


def handbook_example(driver_id: str, event_id: str) -> bytes:
    return HANDBOOK_EXAMPLE.replace("<driver_id>", driver_id).replace("6f1c…", event_id).encode()


async def test_the_handbooks_port_appointment_example_earns_its_points(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve_points(app):
        await send(infra, settings, "registry.events", registered(driver))
        await wait_until(lambda: balance_is(mongo, settings, driver, 0))
        await produce(
            infra.kafka_bootstrap,
            settings.topic(TOPIC),
            handbook_example(driver, unique_name("A-889-")),
            key=driver.encode(),
        )
        await wait_until(lambda: balance_is(mongo, settings, driver, 2))
    entry = await mongo[settings.mongo_db]["ledger"].find_one({"driver_id": driver})
    assert entry["cause"]["event_type"] == "port.appointment.kept.v1"


@pytest.mark.expects_dlq("subject_mismatch", "time_mismatch")
@pytest.mark.parametrize(
    ("field", "reason"),
    [("driver_id", "subject_mismatch"), ("kept_at", "time_mismatch")],
)
async def test_data_that_contradicts_its_envelope_is_dead_lettered_with_the_reason(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    field: str,
    reason: str,
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    contradiction = {"driver_id": unique_name("drv_"), "kept_at": "2026-11-23T08:12:40+08:00"}
    raw = handbook_example(driver, unique_name("A-890-")).replace(
        b'"appointment_id"', f'"{field}": "{contradiction[field]}", "appointment_id"'.encode()
    )
    app = create_app(settings)
    async with serve_points(app):
        await send(infra, settings, "registry.events", registered(driver))
        await wait_until(lambda: balance_is(mongo, settings, driver, 0))
        await produce(infra.kafka_bootstrap, settings.topic(TOPIC), raw, key=driver.encode())
        letters = await read_topic(
            infra.kafka_bootstrap, settings.topic(f"{TOPIC}.dlq"), min_records=1
        )
    headers = headers_of(letters[0])
    assert headers["dlq-reason"] == reason
    assert field in headers["dlq-error"]
    assert letters[0].value == raw
    assert await balance_is(mongo, settings, driver, 0)
