"""The visit history's purge against a withdrawal of the location consent arriving between the
purge's read of the consents and its mark on the visits it keeps: the visit must not stay named
for a year on a consent already withdrawn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from common.testing import unique_name
from stations.consents import LocationConsent
from stations.retention import ANONYMOUS, CONSENTED, VisitHistory
from stations.store.checkins import CHECKINS
from stations.store.drivers import DRIVERS

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
