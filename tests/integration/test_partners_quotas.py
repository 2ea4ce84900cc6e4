"""The rate limit's windows on the real store: a request that read the clock a moment before a
concurrent one moved the window on is counted, not refused (it was refused with 429 under load)."""

from __future__ import annotations

from typing import Any

from common.testing import unique_name
from partners.store.quotas import QuotaStore


async def test_a_late_request_counts_in_the_window_a_concurrent_one_opened(mongo: Any) -> None:
    db = mongo[unique_name("quotas_")]
    try:
        quotas = QuotaStore(db)
        assert await quotas.take("rate:p", 101, 1, 5)  # the next second, first
        assert await quotas.take("rate:p", 100, 1, 5)  # read its clock a moment earlier
        doc = await db["quotas"].find_one({"_id": "rate:p"})
        assert doc is not None and (doc["window"], doc["used"]) == (101, 2)
        # The limit still holds in that window.
        assert [await quotas.take("rate:p", 100, 1, 5) for _ in range(4)] == [
            True,
            True,
            True,
            False,
        ]
    finally:
        await mongo.drop_database(db.name)
