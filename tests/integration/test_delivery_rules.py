"""Handbook section 3 on the real broker: the points consumer of ``registry.events``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.events import new_event
from common.events.base import CloudEvent
from common.events.registry import DriverRegistered
from common.testing import Infra, TcpProxy, headers_of, read_topic, unique_name, wait_until
from points.app import create_app
from points.settings import PointsSettings
from tests.support import produce, serve


def registered(driver_id: str | None = None) -> CloudEvent:
    driver_id = driver_id or unique_name("drv_")
    return new_event(
        DriverRegistered(driver_id=driver_id, channel="operator", registered_at=datetime.now(UTC)),
        source="driverhome/registry",
        subject=driver_id,
    )


async def publish(infra: Infra, settings: PointsSettings, event: CloudEvent) -> None:
    await produce(
        infra.kafka_bootstrap,
        settings.topic("registry.events"),
        event.to_bytes(),
        key=event.subject.encode(),
    )


async def account_of(mongo: Any, settings: PointsSettings, driver_id: str) -> Any:
    return await mongo[settings.mongo_db]["accounts"].find_one({"_id": driver_id})


def retried_count(metrics: str, settings: PointsSettings) -> float:
    topic = settings.topic("registry.events")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("driverhome_events_consumed_total")
        and f'topic="{topic}"' in line
        and 'outcome="retried"' in line
    )


async def test_a_redelivered_registration_opens_one_account(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    event = registered()
    async with serve(create_app(settings)):
        for _ in range(3):
            await publish(infra, settings, event)
        await wait_until(lambda: account_of(mongo, settings, event.subject))
        await asyncio.sleep(2)  # give the duplicates time to be (not) applied
    db = mongo[settings.mongo_db]
    assert await db["accounts"].count_documents({}) == 1
    assert await db["processed_events"].count_documents({}) == 1


@pytest.mark.expects_dlq("malformed_envelope", "unknown_type")
async def test_malformed_and_unknown_messages_go_to_the_dlq_and_the_next_is_processed(
    infra: Infra, make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    topic = settings.topic("registry.events")
    unknown = registered().model_copy(update={"type": "driver.teleported.v1"})
    valid = registered()
    async with serve(create_app(settings)):
        # Same key: same partition, so the valid event queues behind the poison ones.
        key = valid.subject.encode()
        await produce(infra.kafka_bootstrap, topic, b"{not json", key=key)
        await produce(infra.kafka_bootstrap, topic, unknown.to_bytes(), key=key)
        await publish(infra, settings, valid)
        await wait_until(lambda: account_of(mongo, settings, valid.subject))
    letters = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", min_records=2)
    reasons = sorted(headers_of(r)["dlq-reason"] for r in letters)
    assert reasons == ["malformed_envelope", "unknown_type"]
    assert {r.value for r in letters} == {b"{not json", unknown.to_bytes()}, "payload kept as is"
    for letter in letters:
        headers = headers_of(letter)
        assert headers["dlq-original-topic"] == topic
        assert headers["dlq-consumer-group"] == f"{settings.topic_prefix}points.registry.events"
        assert int(headers["dlq-original-offset"]) >= 0


async def test_a_handler_that_raises_before_finishing_is_retried_and_applies_once(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "raised"
    settings = make_settings(
        PointsSettings,
        faults={"points.on_driver_registered.before_commit": f"raise_once:{marker}"},
    )
    event = registered()
    async with serve(create_app(settings)):
        await publish(infra, settings, event)
        await wait_until(
            lambda: mongo[settings.mongo_db]["processed_events"].find_one({"event_id": event.id})
        )
    assert marker.exists(), "the fault must have fired"
    db = mongo[settings.mongo_db]
    assert await db["accounts"].count_documents({"_id": event.subject}) == 1
    assert await db["processed_events"].count_documents({}) == 1
    assert (
        await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events.dlq"), min_records=1, timeout=2
        )
        == []
    )


async def test_an_unavailable_store_is_waited_for_and_nothing_is_dead_lettered(
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
    event = registered()
    try:
        async with serve(create_app(settings)) as http:
            await proxy.cut()
            await publish(infra, settings, event)
            await asyncio.sleep(6)  # several failed attempts while the store is away
            assert await account_of(mongo, settings, event.subject) is None
            assert retried_count((await http.get("/metrics")).text, settings) >= 2
            await proxy.restore()
            await wait_until(lambda: account_of(mongo, settings, event.subject), timeout=60)
    finally:
        await proxy.cut()
    assert (
        await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events.dlq"), min_records=1, timeout=2
        )
        == []
    )
