"""An erasure that rewrites a versioned record (a case, an aid application) moves its version
on, so a write planned on the record as read before the erasure finds nothing instead of
putting back what the erasure took out. Real store; cases' own erasure steps."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from cases.erasure import STEPS
from cases.store.aid import APPLICATIONS, AidStore
from common.erasure import DriverErasure, keyed_pseudonym
from common.events.cases import CasesErasureCompleted
from common.testing import unique_name

NOTE = "家中老人住院，欠债两万"


async def test_a_review_read_before_the_erasure_does_not_bring_its_notes_back(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    db = mongo[unique_name("erasure_versions_")]
    try:
        store = AidStore(db)
        driver = "drv_rewrite_1"
        first = {"stage": "first", "by": "care-1", "approve": True, "note": NOTE}
        await db[APPLICATIONS].insert_one(
            {
                "_id": "app-1",
                "driver_id": driver,
                "kind": "living",
                "status": "first_approved",
                "version": 2,
                "reviews": [first],
                "statement": NOTE,
            }
        )
        current = await store.get("app-1")
        assert current is not None
        erasure = DriverErasure(
            db=db,
            publisher=None,  # type: ignore[arg-type]  # erase() publishes nothing
            service="cases",
            topic="cases.events",
            confirmation=CasesErasureCompleted,
            steps=STEPS,
            pseudonym=keyed_pseudonym("a2V5LWZvci10ZXN0cy0wMDAwMDAwMDAwMDAwMDAwMDA="),
        )
        await erasure.erase(driver)
        second = {"stage": "second", "by": "care-2", "approve": True, "note": "ok"}
        moved = await store.move(
            "app-1",
            "first_approved",
            {"status": "granted", "reviews": [*current["reviews"], second]},
            [],
            by="care-2",
            version=current["version"],
        )
        stored = await db[APPLICATIONS].find_one({"_id": "app-1"})
    finally:
        await mongo.drop_database(db.name)
    assert moved is None, "the review was planned on the record before the erasure"
    assert stored is not None and NOTE not in str(stored)
    assert stored["driver_id"] != driver
