"""What points purges of what is not its books: a school-admission statement after an admission
year (signed, it is checked offline; the copy here serves the driver asking again), and a
station's monthly count of credited attendances a while after its month (its events start with
driver ids). The ledger is not touched. Real store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.testing import unique_name
from points.retention import retention_rules
from points.settings import PointsSettings
from points.store.redemptions import CANCEL_NOTE, REDEMPTIONS
from points.store.statements import STATEMENTS
from points.store.station_awards import MONTH_ENDS, STATION_AWARDS, StationAwards, month_end

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def test_a_month_ends_at_the_first_instant_of_the_next() -> None:
    assert month_end("2026-11") == datetime(2026, 12, 1, tzinfo=UTC)
    assert month_end("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)


async def test_old_statements_past_months_counts_and_cancel_notes_are_purged(
    mongo: Any, make_settings: Callable[..., PointsSettings]
) -> None:
    settings = make_settings(PointsSettings)
    db = mongo[unique_name("points_retention_")]
    try:
        await db[STATEMENTS].insert_many(
            [
                {"_id": "st-old", "driver_id": "drv_a", "created_at": NOW - timedelta(days=400)},
                {"_id": "st-new", "driver_id": "drv_a", "created_at": NOW - timedelta(days=10)},
            ]
        )
        await db[REDEMPTIONS].insert_many(
            [
                {
                    "_id": "rd-old",
                    "state": "cancelled",
                    CANCEL_NOTE: "司机说孩子生病来不了",
                    "created_at": NOW - timedelta(days=400),
                },
                {
                    "_id": "rd-new",
                    "state": "cancelled",
                    CANCEL_NOTE: "柜台缺货",
                    "created_at": NOW - timedelta(days=10),
                },
            ]
        )
        awards = StationAwards(db, per_month=500)
        assert await awards.take("S-XP-01", "2026-10", "drv_a\x1fstations\x1fe1")
        assert await awards.take("S-XP-01", "2026-12", "drv_a\x1fstations\x1fe2")
        dated = {d["_id"]: d[MONTH_ENDS] async for d in db[STATION_AWARDS].find({})}
        for rule in retention_rules(settings):
            await rule.apply(db, NOW, batch_size=50)
        statements = [d["_id"] async for d in db[STATEMENTS].find({})]
        counts = [d["_id"] async for d in db[STATION_AWARDS].find({})]
        notes = {d["_id"]: d.get(CANCEL_NOTE) async for d in db[REDEMPTIONS].find({})}
    finally:
        await mongo.drop_database(db.name)
    assert dated["S-XP-01@2026-10"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert statements == ["st-new"]
    assert counts == ["S-XP-01@2026-12"]
    assert notes == {"rd-old": None, "rd-new": "柜台缺货"}
