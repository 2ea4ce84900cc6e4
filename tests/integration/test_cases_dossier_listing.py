"""A dossier lists a driver's open cases (intake's duplicate lookup reads them). A finished case
is unlisted, but the unlisting of a finish that lands after a reopening listed the case again
leaves the case listed. Real store; the dossier store alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from cases.store.dossiers import OPEN_CASES, DossierStore, open_summary
from common.testing import unique_name

OPENED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_a_finish_unlisted_after_a_reopening_leaves_the_case_listed(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    db = mongo[unique_name("dossier_listing_")]
    try:
        dossiers = DossierStore(db)
        driver = "drv_listing_1"
        for case_id in ("C1", "C2"):
            await dossiers.file_case(driver, case_id, OPENED, open_summary("parking_rest", OPENED))
        # C1 was finished (version 4) and reopened (version 5); the finish's unlisting comes last.
        await dossiers.case_open(driver, "C1", open_summary("parking_rest", OPENED, version=5))
        await dossiers.case_finished(driver, "C1", 4)
        # C2, listed at intake (no version), is finished as usual.
        await dossiers.case_finished(driver, "C2", 2)
        listed = (await dossiers.get(driver) or {}).get(OPEN_CASES, {})
        # Finished again after the reopening: unlisted.
        await dossiers.case_finished(driver, "C1", 6)
        after = (await dossiers.get(driver) or {}).get(OPEN_CASES, {})
    finally:
        await mongo.drop_database(db.name)
    assert set(listed) == {"C1"}
    assert after == {}
