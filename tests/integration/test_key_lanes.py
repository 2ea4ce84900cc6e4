"""Key lanes on the real broker: a batched subscription with ``lanes`` handles different keys'
records side by side, yet one key's records stay in offset order, a transient failure in one
lane holds back that key's later records and rewinds the batch, a poison record is
dead-lettered alone, and the batch is committed once everything is done. The rewind repeats
nothing this process already finished (the flaky driver's earlier events, the dead letter)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from common.bus import EventConsumer, Publisher, create_broker
from common.events import CloudEvent, EventData, new_event
from common.events.registry import DriverRegistered
from common.settings import ServiceSettings
from common.testing import Infra, headers_of, kafka_options, read_topic, unique_name, wait_until
from common.topics import ensure_topics

DRIVERS = 6
PER_DRIVER = 5


def registered(driver_id: str) -> CloudEvent:
    return new_event(
        DriverRegistered(driver_id=driver_id, channel="operator", registered_at=datetime.now(UTC)),
        source="driverhome/registry",
        subject=driver_id,
    )


class Probe:
    """A handler that takes its time, fails one chosen event once, and notes what it saw."""

    def __init__(self, flaky: str, delays: dict[str, float]) -> None:
        self.flaky = flaky
        # A key's earlier events take longer: handled side by side, they would finish last.
        self.delays = delays
        self.failed = False
        self.in_flight = 0
        self.most_in_flight = 0
        self.finished: list[tuple[str, str]] = []  # (driver, event id), in completion order

    async def on_registered(self, event: CloudEvent, data: EventData) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays[event.id])
            if event.id == self.flaky and not self.failed:
                self.failed = True
                raise ConnectionError("store unreachable (injected)")
            self.finished.append((str(event.subject), event.id))
        finally:
            self.in_flight -= 1


async def committed(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
    finally:
        await admin.close()


@pytest.mark.expects_dlq("malformed_envelope")
async def test_keys_run_side_by_side_each_in_order_and_a_failure_holds_its_lane_back(
    infra: Infra, make_settings: Callable[..., ServiceSettings], mongo: Any
) -> None:
    settings = make_settings(ServiceSettings)
    await ensure_topics(settings, ["registry.events"])
    topic = settings.topic("registry.events")
    drivers = [unique_name("drv_") for _ in range(DRIVERS)]
    events = {d: [registered(d) for _ in range(PER_DRIVER)] for d in drivers}
    delays = {e.id: 0.01 * (PER_DRIVER - i) for d in drivers for i, e in enumerate(events[d])}
    probe = Probe(flaky=events[drivers[0]][2].id, delays=delays)
    # Queued before the consumer starts, interleaved by driver, so lanes get mixed batches.
    producer = AIOKafkaProducer(**kafka_options(infra.kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for i in range(PER_DRIVER):
            for d in drivers:
                await producer.send(topic, events[d][i].to_bytes(), key=d.encode())
            if i == 1:
                await producer.send(topic, b"{not json", key=b"poison")
        await producer.flush()
    finally:
        await producer.stop()

    broker = create_broker(settings)
    consumer = EventConsumer(broker, settings, Publisher(broker, settings), group_id="lanes")
    consumer.domain(
        "registry.events",
        {"driver.registered.v1": probe.on_registered},
        batch_size=100,
        lanes=4,
    )
    total = DRIVERS * PER_DRIVER + 1
    group = f"{settings.topic_prefix}lanes.registry.events"
    await broker.start()
    try:
        await wait_until(
            lambda: _all_committed(infra.kafka_bootstrap, group, total), timeout=60, interval=0.2
        )
    finally:
        await broker.stop()

    assert probe.failed, "the flaky event failed once"
    assert probe.most_in_flight > 1, "different keys were handled at the same time"
    assert probe.most_in_flight <= 4, "never more lanes than asked for"
    for d in drivers:
        seen = [event_id for driver, event_id in probe.finished if driver == d]
        assert seen == [e.id for e in events[d]], f"{d}: each event once, in offset order"
    letters = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", min_records=2, timeout=3)
    assert [r.value for r in letters] == [b"{not json"], "the poison record alone, once"
    assert headers_of(letters[0])["dlq-reason"] == "malformed_envelope"


async def _all_committed(bootstrap: str, group: str, total: int) -> bool:
    return await committed(bootstrap, group) == total


def test_lanes_need_a_batched_subscription(make_settings: Callable[..., ServiceSettings]) -> None:
    settings = make_settings(ServiceSettings)
    broker = create_broker(settings)
    consumer = EventConsumer(broker, settings, Publisher(broker, settings), group_id="lanes")
    with pytest.raises(ValueError, match="batched"):
        consumer.domain("registry.events", {}, lanes=4)
