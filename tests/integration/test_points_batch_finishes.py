"""Points finishes a batch's awards together (``points.finishes``), on the real broker and
store: each entry is marked applied and its mark taken off its account in one bulk write per
step at the end of the batch, before its commit; when those writes fail they are tried again,
and nothing is credited or announced twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient, monitoring

from common.events import CloudEvent, parse_envelope
from common.idempotency import fingerprint
from common.testing import Infra, kafka_options, read_topic, unique_name, wait_until
from points.app import create_app
from points.earning import Earning
from points.settings import PointsSettings
from tests.integration.test_points_ledger import volunteer
from tests.support import serve

TOPIC = "partner.volunteer-team.events"
HOURS = (1, 2, 4)  # three awards per driver: 10, 20 and 40 points (the volunteer rule)
POINTS = 70  # under the rule's cap of 80 a day


class Writes(monitoring.CommandListener):
    """Update commands per collection, and the statements they carried."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            collection = event.command["update"]
            self.commands[collection] += 1
            self.statements[collection] += len(event.command.get("updates", ()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def accounts_opened(settings: PointsSettings, drivers: list[str]) -> None:
    """Open the drivers' accounts with the subscriptions' topics made, then stop: the awards
    are queued while no consumer runs, so the next start fetches them together."""
    app = create_app(settings)
    async with serve(app):
        for driver in drivers:
            await app.state.service.open_account(driver, datetime.now(UTC))


async def queue(infra: Infra, settings: PointsSettings, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(**kafka_options(infra.kafka_bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send(settings.topic(TOPIC), event.to_bytes(), key=event.subject.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def finished(db: Any, drivers: list[str]) -> bool:
    applied = await db["ledger"].count_documents(
        {"driver_id": {"$in": drivers}, "state": "applied", "published": True}
    )
    settled = await db["accounts"].count_documents(
        {"_id": {"$in": drivers}, "balance": POINTS, "pending": []}
    )
    return bool(applied == len(drivers) * len(HOURS) and settled == len(drivers))


async def awards_and_copies(infra: Infra, settings: PointsSettings) -> list[str]:
    drivers = [unique_name("drv_") for _ in range(4)]
    await accounts_opened(settings, drivers)
    events = [volunteer(driver, hours=h) for driver in drivers for h in HOURS]
    # The first award of each driver delivered twice, its copy in the same batch.
    await queue(infra, settings, events + events[:: len(HOURS)])
    return drivers


async def announced(infra: Infra, settings: PointsSettings, count: int) -> list[str]:
    records = await read_topic(
        infra.kafka_bootstrap, settings.topic("points.events"), min_records=count
    )
    return [
        e.id for e in (parse_envelope(r.value) for r in records) if e.type == "points.awarded.v1"
    ]


async def test_a_batchs_awards_are_finished_in_one_write_per_step_at_its_end(
    infra: Infra, make_settings: Callable[..., PointsSettings]
) -> None:
    settings = make_settings(PointsSettings)
    drivers = await awards_and_copies(infra, settings)
    writes = Writes()
    client: Any = AsyncMongoClient(infra.mongo_url, tz_aware=True, event_listeners=[writes])
    try:
        db = client[settings.mongo_db]
        async with serve(create_app(settings, store=db)):
            await wait_until(lambda: finished(db, drivers), timeout=30)
        entries = len(drivers) * len(HOURS)
        # One by one, each entry costs a ledger update of its own; here a batch's entries
        # share one (the fetch may split them across a few batches, never one per entry).
        assert writes.statements["ledger"] >= entries
        assert writes.commands["ledger"] < entries / 2, writes.commands
        ids = await announced(infra, settings, entries)
        assert len(ids) == entries == len(set(ids)), "each award announced once, copies not"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "point",
    [
        "points.ledger.batch_end",  # before any entry of the batch is marked applied
        "points.ledger.before_settle",  # marked applied, the accounts' marks still on
    ],
)
async def test_a_batchs_deferred_steps_that_fail_are_tried_again_and_count_once(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    tmp_path: Path,
    point: str,
) -> None:
    marker = tmp_path / "failed"
    settings = make_settings(PointsSettings, faults={point: f"raise_once:{marker}"})
    drivers = await awards_and_copies(infra, settings)
    db = mongo[settings.mongo_db]
    async with serve(create_app(settings)):
        await wait_until(lambda: finished(db, drivers), timeout=30)
    assert marker.exists(), "the batch's deferred steps failed once"
    entries = len(drivers) * len(HOURS)
    assert await db["ledger"].count_documents({"driver_id": {"$in": drivers}}) == entries
    ids = await announced(infra, settings, entries)
    # The failed writes are tried again in place: the records are not handled again, so no
    # award is announced twice either.
    assert sorted(ids) == sorted(
        [d["_id"] async for d in db["ledger"].find({"driver_id": {"$in": drivers}}, {"_id": 1})]
    )
    assert len(ids) == entries


async def test_an_award_announced_again_from_the_store_is_the_same_announcement(
    infra: Infra, make_settings: Callable[..., PointsSettings]
) -> None:
    """A batch stopped before its entries were marked (a crash) announces them again when the
    records come back, from the entries as stored (milliseconds): the payload must not differ
    from the first announcement's, made from the entry in memory (microseconds)."""
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app) as http:
        del http
        service = app.state.service
        await service.open_account(driver, datetime.now(UTC))
        decision = await service.decide(Earning.of(volunteer(driver, hours=1)))
        assert decision.award is not None
        award = decision.award.model_copy(
            update={"created_at": datetime(2026, 12, 7, 2, 0, 0, 123456, tzinfo=UTC)}
        )
        ledger = service.ledger
        marked = ledger.entries.mark_applied

        async def crashed(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("stopped before the entry was marked")

        ledger.entries.mark_applied = crashed
        with pytest.raises(ConnectionError):
            await ledger.post(award)
        ledger.entries.mark_applied = marked
        await ledger.post(award)  # the record again: finished from the account's mark
    records = await read_topic(
        infra.kafka_bootstrap, settings.topic("points.events"), min_records=2
    )
    mine = [parse_envelope(r.value) for r in records]
    mine = [e for e in mine if e.id == award.entry_id]
    assert len(mine) == 2, "announced before the crash and again after it"
    assert fingerprint(mine[0]) == fingerprint(mine[1])
