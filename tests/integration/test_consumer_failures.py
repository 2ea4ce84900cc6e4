"""A failing handler leaves a trail an operator can act on: the error's code and message,
in the log and in the DLQ headers, with personal numbers scrubbed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from common.bus import EventConsumer, Publisher, create_broker
from common.events import CloudEvent, EventData, new_event
from common.events.registry import DriverRegistered
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    headers_of,
    read_topic,
    synthetic_national_id,
    unique_name,
)
from common.topics import ensure_topics
from tests.support import produce


@pytest.mark.expects_dlq("handler_failed")
async def test_a_store_error_is_logged_and_dead_lettered_with_its_code_and_message(
    infra: Infra, make_settings: Callable[..., ServiceSettings], mongo: Any
) -> None:
    settings = make_settings(ServiceSettings, consumer_max_attempts=2)
    national_id = synthetic_national_id()
    taken = mongo[settings.mongo_db]["taken"]
    await taken.insert_one({"_id": national_id})

    async def on_registered(event: CloudEvent, data: EventData) -> None:
        # A real store refusal whose server message quotes the duplicate key's value.
        await taken.insert_one({"_id": national_id})

    await ensure_topics(settings, ["registry.events"])
    broker = create_broker(settings)
    consumer = EventConsumer(broker, settings, Publisher(broker, settings), group_id="probe")
    consumer.domain("registry.events", {"driver.registered.v1": on_registered})
    driver = unique_name("drv_")
    event = new_event(
        DriverRegistered(driver_id=driver, channel="operator", registered_at=datetime.now(UTC)),
        source="driverhome/registry",
        subject=driver,
    )
    topic = settings.topic("registry.events")
    with capture_logs() as logs:
        await broker.start()
        try:
            await produce(infra.kafka_bootstrap, topic, event.to_bytes(), key=driver.encode())
            letters = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", timeout=60)
        finally:
            await broker.stop()

    assert len(letters) == 1
    error = headers_of(letters[0])["dlq-error"]
    assert "DuplicateKeyError(code=11000" in error and "E11000" in error, error
    assert "[national-id]" in error and national_id not in error, "scrubbed"
    failures = [
        entry
        for entry in logs
        if entry["event"]
        in ("event handling failed; will retry", "handler failed repeatedly; dead-lettering")
    ]
    assert failures, logs
    for entry in failures:
        assert "code=11000" in entry["error"] and "E11000" in entry["error"], entry
        assert national_id not in str(entry)
