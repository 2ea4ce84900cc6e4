"""The visit history's purge against a withdrawal of the location consent arriving between the
purge's read of the consents and its mark on the visits it keeps: the visit must not stay named
for a year on a consent already withdrawn. And what names a visit's driver beside the check-in
(a rating, the last counted use, a rest nudge) is purged with the visit's naming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from common.testing import unique_name
from stations.consents import LocationConsent
from stations.rest import NUDGES
from stations.retention import ANONYMOUS, CONSENTED, VisitHistory, retention_rules
from stations.settings import StationsSettings
from stations.store.checkins import CHECKINS, WINDOWS
from stations.store.drivers import DRIVERS
from stations.store.feedback import FEEDBACK

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class _WithdrawnAfterRead:
    """The stations database, except that the purge's first read of the drivers' consents is
    followed at once by the given driver's withdrawal (as the registry's event would bring)."""

    def __init__(self, db: Any, withdrawing: str) -> None:
        self._db = db
        self._withdrawing: str | None = withdrawing

    def __getitem__(self, name: str) -> Any:
        if name == DRIVERS and self._withdrawing is not None:
            return _DriversThenWithdrawal(self, self._db[name])
        return self._db[name]

    async def withdraw(self) -> None:
        driver, self._withdrawing = self._withdrawing, None
        assert driver is not None
        await LocationConsent(self._db).follow(driver, {"location": False}, NOW)


class _DriversThenWithdrawal:
    def __init__(self, owner: _WithdrawnAfterRead, drivers: Any) -> None:
        self._owner = owner
        self._drivers = drivers

    def find(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async def read_then_withdraw() -> AsyncIterator[Any]:
            found = await self._drivers.find(*args, **kwargs).to_list()
            await self._owner.withdraw()
            for doc in found:
                yield doc

        return read_then_withdraw()


async def test_a_withdrawal_during_the_purge_leaves_the_visit_anonymised(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    db = mongo[unique_name("stations_retention_")]
    try:
        withdrawing, staying = "drv_withdrawing", "drv_staying"
        await db[DRIVERS].insert_many(
            [
                {"_id": d, "active": True, "consents": {"location": True}}
                for d in (withdrawing, staying)
            ]
        )
        old = NOW - timedelta(days=40)
        await db[CHECKINS].insert_many(
            [
                {"_id": f"chk-{d}", "driver_id": d, "station_id": "S-XP-01", "recorded_at": old}
                for d in (withdrawing, staying)
            ]
        )
        rule = VisitHistory(purpose=timedelta(days=30), keep=timedelta(days=365))
        await rule.apply(_WithdrawnAfterRead(db, withdrawing), NOW, batch_size=50)
        visits = {doc["_id"]: doc async for doc in db[CHECKINS].find({})}
    finally:
        await mongo.drop_database(db.name)
    assert visits[f"chk-{withdrawing}"]["driver_id"] == ANONYMOUS
    assert CONSENTED not in visits[f"chk-{withdrawing}"]
    assert visits[f"chk-{staying}"]["driver_id"] == staying
    assert visits[f"chk-{staying}"][CONSENTED] is True


async def test_what_outlives_an_anonymous_visit_is_purged_with_it(
    mongo: AsyncMongoClient[dict[str, Any]], make_settings: Any
) -> None:
    """A rating (its id is its check-in's), the last counted use per driver, station and service,
    and a rest nudge each name the driver and where they were: none outlives the visit's own
    naming. Recent ones stay."""
    settings = make_settings(StationsSettings)
    db = mongo[unique_name("stations_retention_")]
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=2)
    try:
        await db[FEEDBACK].insert_many(
            [
                {"_id": "chk-old", "driver_id": "drv_a", "rating": 5, "created_at": old},
                {"_id": "chk-new", "driver_id": "drv_a", "rating": 4, "created_at": recent},
            ]
        )
        await db[WINDOWS].insert_many(
            [
                {"_id": "drv_a\x1fS-XP-01\x1fshower", "last": old, "by": "chk-old"},
                {"_id": "drv_a\x1fS-XP-01\x1fmeal", "last": recent, "by": "chk-new"},
            ]
        )
        await db[NUDGES].insert_many(
            [
                {"_id": "nudge-old", "driver_id": "drv_a", "nudged_at": old},
                {"_id": "nudge-new", "driver_id": "drv_a", "nudged_at": recent},
            ]
        )
        for rule in retention_rules(settings):
            await rule.apply(db, NOW, batch_size=50)
        ratings = {d["_id"]: d["driver_id"] async for d in db[FEEDBACK].find({})}
        windows = [d["_id"] async for d in db[WINDOWS].find({})]
        nudges = [d["_id"] async for d in db[NUDGES].find({})]
    finally:
        await mongo.drop_database(db.name)
    assert ratings == {"chk-old": ANONYMOUS, "chk-new": "drv_a"}
    assert windows == ["drv_a\x1fS-XP-01\x1fmeal"]
    assert nudges == ["nudge-new"]
