"""One stations app per test module on the real broker and store, with a settable clock.

Tests in a module share the app (starting one creates a topic set), so each test uses its own
station and driver ids and reads only its own drivers' events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from common.auth import Role, issue_token
from common.events import CloudEvent, new_event, parse_envelope
from common.events.partner import PartnerServiceUsed
from common.events.registry import DriverDeactivated, DriverRegistered
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    dead_letters,
    drop_run,
    grant_run,
    kafka_options,
    revoke_run,
    unexpected_dead_letters,
    unique_name,
    wait_until,
)
from stations.app import create_app
from stations.settings import StationsSettings
from tests.support import produce, serve

BEILUN = (29.8880, 121.8450)


class Clock:
    """``None`` follows the wall clock; tests set ``at`` to travel in time."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


@dataclass
class Harness:
    infra: Infra
    settings: StationsSettings
    http: httpx.AsyncClient
    clock: Clock
    db: Any
    seen_events: list[CloudEvent] = field(default_factory=list)
    app: Any = None  # the stations app itself, for tests that reach into its use cases

    @staticmethod
    def auth(role: Role = "operator", **claims: str) -> dict[str, str]:
        token = issue_token(ServiceSettings(), role=role, **claims)
        return {"Authorization": f"Bearer {token}"}

    async def station(self, **overrides: Any) -> str:
        station_id = overrides.pop("station_id", None) or unique_name("stn_")
        body: dict[str, Any] = {
            "station_id": station_id,
            "name": "霞浦集卡司机之家",
            "kind": "drivers_home",
            "operator_org": "北仑区交通运输行业党委",
            "address": "宁波市北仑区霞浦街道",
            "location": {"lat": BEILUN[0], "lng": BEILUN[1]},
            "hours": {"always_open": True},
            "capacity": {"beds": 10, "parking": 20, "showers": 4},
            "services": [{"code": c} for c in ("rest", "bed", "parking", "shower", "meals")],
            "kiosk_partners": ["station-kiosk"],
            **overrides,
        }
        answer = await self.http.post("/v1/stations", json=body, headers=self.auth())
        assert answer.status_code == 201, answer.text
        return station_id

    async def publish(self, topic: str, event: CloudEvent) -> None:
        await produce(
            self.infra.kafka_bootstrap,
            self.settings.topic(topic),
            event.to_bytes(),
            key=event.subject.encode(),
        )

    async def drivers(self, count: int = 1) -> list[str]:
        """Register drivers through ``registry.events`` and wait until the service knows them."""
        ids = [unique_name("drv_") for _ in range(count)]
        now = datetime.now(UTC)
        for driver_id in ids:
            await self.publish(
                "registry.events",
                new_event(
                    DriverRegistered(driver_id=driver_id, channel="operator", registered_at=now),
                    source="driverhome/registry",
                    subject=driver_id,
                ),
            )

        async def all_known() -> bool:
            return await self.db["drivers"].count_documents({"_id": {"$in": ids}}) == count

        await wait_until(all_known)
        return ids

    async def driver(self) -> str:
        return (await self.drivers(1))[0]

    async def deactivate(self, driver_id: str) -> None:
        await self.publish(
            "registry.events",
            new_event(
                DriverDeactivated(
                    driver_id=driver_id, deactivated_at=datetime.now(UTC), reason="left the port"
                ),
                source="driverhome/registry",
                subject=driver_id,
            ),
        )

        async def inactive() -> bool:
            doc = await self.db["drivers"].find_one({"_id": driver_id})
            return doc is not None and doc["active"] is False

        await wait_until(inactive)

    def kiosk_event(
        self,
        driver_id: str,
        station_id: str,
        service_code: str,
        used_at: datetime,
        *,
        event_id: str | None = None,
    ) -> CloudEvent:
        return new_event(
            PartnerServiceUsed(
                driver_id=driver_id,
                station_id=station_id,
                service_code=service_code,
                used_at=used_at,
                kiosk_id="kiosk-xp-01",
            ),
            source="partner/station-kiosk",
            subject=driver_id,
            event_id=event_id,
        )

    async def checkin(
        self, driver_id: str, station_id: str, service_code: str = "shower", **headers: str
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/checkins",
            json={"driver_id": driver_id, "station_id": station_id, "service_code": service_code},
            headers={
                **self.auth("station", station_id=station_id, sub=f"desk-{station_id}"),
                **headers,
            },
        )

    async def events_of(
        self, subjects: Iterable[str], *, at_least: int, settle: float = 1.5
    ) -> list[CloudEvent]:
        """Distinct ``stations.events`` about these drivers, once ``at_least`` arrived (then a
        pause, so that an extra, wrong event would be caught too).

        Distinct by ``(source, id)``: the outbox may publish an event again after a crash or
        when its flush races the sweeper, and every consumer dedupes on that identity; one
        announcement means one identity.
        """
        wanted = set(subjects)
        topic = self.settings.topic("stations.events")

        async def mine() -> list[CloudEvent]:
            records = await read_whole_topic(self.infra.kafka_bootstrap, topic)
            return _distinct(e for e in map(parse_envelope, records) if e.subject in wanted)

        async def enough() -> list[CloudEvent] | None:
            found = await mine()
            return found if len(found) >= at_least else None

        if at_least:
            await wait_until(enough, timeout=30)
        await asyncio.sleep(settle)
        return await mine()


async def read_whole_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value up to the end offsets at the time of the call, all partitions."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        for _ in range(100):  # without a group, every partition is assigned once metadata is in
            partitions = list(consumer.assignment())
            if partitions:
                break
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(*partitions, timeout_ms=500)
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


def _distinct(events: Iterable[CloudEvent]) -> list[CloudEvent]:
    seen: dict[tuple[str, str], CloudEvent] = {}
    for event in events:
        seen.setdefault(event.key, event)
    return list(seen.values())


async def start_harness(
    infra: Infra, *, expects_dlq: tuple[str, ...] | None = None, **overrides: Any
) -> AsyncIterator[Harness]:
    """A stations app for a module's tests; ``expects_dlq`` as for ``@pytest.mark.expects_dlq``
    (None: the module's tests dead-letter nothing, and the watchdog checks at its end)."""
    run = unique_name("t")
    grants = await grant_run(infra, run)
    settings = StationsSettings(
        **{
            **infra.service_settings("stations"),
            "environment": "test",
            "kafka_bootstrap": infra.kafka_bootstrap,
            "mongo_url": infra.mongo_url,
            "topic_prefix": f"{run}.",
            "topic_partitions": 3,
            "mongo_db": f"{run}_stations",
            "outbox_sweep_seconds": 0.5,
            "consumer_backoff_max_seconds": 1.0,
            "rate_limit_enabled": False,
            **overrides,
        }
    )
    clock = Clock()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongo_url, tz_aware=True)
    try:
        app = create_app(settings, clock=clock)
        async with serve(app) as http:
            yield Harness(infra, settings, http, clock, client[settings.mongo_db], app=app)
    finally:
        await client.close()
        try:
            report = unexpected_dead_letters(
                await dead_letters(infra.kafka_bootstrap, f"{run}."), expects_dlq
            )
        finally:
            await drop_run(infra, run)
            await revoke_run(infra, grants)
    if report:
        raise AssertionError(report)
