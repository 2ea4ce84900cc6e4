"""What the registry purges besides its reveal audit: a station's visit (it lets the station's
staff read the driver) 30 days after the last one, and a partner's disagreeing value (names,
plates, the phone encrypted) 90 days after a reviewer decided it; an open review waits. Real
store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common.testing import unique_name
from registry.retention import retention_rules
from registry.settings import RegistrySettings
from registry.store.reviews import REVIEWS
from registry.store.station_visits import STATION_VISITS

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


async def test_decided_reviews_and_old_visits_go_open_reviews_and_recent_visits_stay(
    mongo: Any, make_settings: Callable[..., RegistrySettings]
) -> None:
    settings = make_settings(RegistrySettings)
    db = mongo[unique_name("registry_retention_")]
    try:
        await db[REVIEWS].insert_many(
            [
                {"_id": "rv-decided", "status": "rejected", "resolved_at": NOW - timedelta(91)},
                {"_id": "rv-lately", "status": "accepted", "resolved_at": NOW - timedelta(5)},
                {"_id": "rv-open", "status": "open", "created_at": NOW - timedelta(400)},
            ]
        )
        await db[STATION_VISITS].insert_many(
            [
                {"_id": "S1|drv_a", "last_at": NOW - timedelta(days=31)},
                {"_id": "S1|drv_b", "last_at": NOW - timedelta(days=3)},
            ]
        )
        for rule in retention_rules(settings):
            await rule.apply(db, NOW, batch_size=50)
        reviews = sorted([d["_id"] async for d in db[REVIEWS].find({})])
        visits = [d["_id"] async for d in db[STATION_VISITS].find({})]
    finally:
        await mongo.drop_database(db.name)
    assert reviews == ["rv-lately", "rv-open"]
    assert visits == ["S1|drv_b"]
