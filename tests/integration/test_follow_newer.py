"""``common.mongo.follow_newer`` on the real store: each group of announced facts applies only
over an older announcement of that group, an older change to another group still applies, and
an upsert meeting a newer document writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from common.mongo import follow_newer
from common.testing import unique_name

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_each_group_takes_only_a_newer_announcement(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    db = mongo[unique_name("follow_newer_")]
    try:
        facts = db["facts"]
        later, earlier = T0 + timedelta(minutes=10), T0 + timedelta(minutes=5)
        assert await follow_newer(facts, "d1", {"fleet": {"fleet": "北仑车队"}}, later, upsert=True)
        # Replayed after the newer one: the older fleet changes nothing ...
        assert await follow_newer(facts, "d1", {"fleet": {"fleet": "霞浦车队"}}, earlier) == []
        # ... but an older change to another group, never applied, still applies.
        assert await follow_newer(facts, "d1", {"grid": {"grid_id": "G07"}}, earlier) == ["grid"]
        # A removal is an unset, and a newer document meets an older upsert without an error.
        assert await follow_newer(facts, "d1", {"grid": {"grid_id": None}}, later) == ["grid"]
        assert await follow_newer(facts, "d1", {"fleet": {"fleet": "旧"}}, T0, upsert=True) == []
        doc = await facts.find_one({"_id": "d1"})
    finally:
        await mongo.drop_database(db.name)
    assert doc is not None
    assert doc["fleet"] == "北仑车队" and "grid_id" not in doc
    assert doc["facts_at"] == {"fleet": later, "grid": later}
