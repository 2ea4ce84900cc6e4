"""Issue 19: cases' hot paths ask the store only for what it finds without reading every case.

Opening a case finds the driver's possible duplicates through the dossier, which lists their
cases by id: intake reads those by ``_id`` and sifts them, so on the local store an intake costs
the same at 100,000 open cases as at ten. The breach scan's announcement is pinned by the
version and the due time it read, a unique index's fields. Proven on the real store by what the
code asks it (tests/store_commands.py), and on dossiers kept from before they listed cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from cases.app import INDEXES, build_calendar
from cases.intake import Intake
from cases.service import Cases, build_cases
from cases.settings import CasesSettings
from cases.store.dossiers import CASE_IDS, DOSSIERS
from common.auth import Principal
from common.mongo import ensure_indexes
from tests.store_commands import Commands, keyed, plans, unique_indexes

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday morning in the district
STATION = Principal(sub="station-7", role="station", station_id="S7")


def complaint(driver_id: str, category: str = "parking_rest") -> Intake:
    return Intake(
        kind="complaint",
        category=category,
        channel="station",
        description="停车区夜间无照明",
        driver_id=driver_id,
    )


@dataclass
class Store:
    """The cases use cases over a test database whose commands are captured on request."""

    db: Any
    commands: Commands
    now: list[datetime]
    cases: Cases


@pytest.fixture
async def store(make_settings: Callable[..., CasesSettings]) -> AsyncIterator[Store]:
    settings = make_settings(CasesSettings)
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, tz_aware=True, event_listeners=[commands]
    )
    try:
        db = client[settings.mongo_db]
        await ensure_indexes(db, INDEXES)
        now = [NOW]
        calendar = build_calendar(settings)
        cases = build_cases(db, calendar, settings, clock=lambda: now[0])
        yield Store(db, commands, now, cases)
    finally:
        await client.close()


async def test_intake_finds_duplicates_by_id_and_lists_each_case_in_the_dossier(
    store: Store,
) -> None:
    db, commands, cases = store.db, store.commands, store.cases
    # Other drivers' cases: a lookup that read them would still answer, but slowly.
    for other in ("d-other-1", "d-other-2"):
        await cases.intake.open_case(STATION, complaint(other))

    served = {name: await plans(db, name) for name in ("cases", DOSSIERS)}
    commands.recording = True
    first = await cases.intake.open_case(STATION, complaint("d-1"))
    second = await cases.intake.open_case(STATION, complaint("d-1"))
    elsewhere = await cases.intake.open_case(STATION, complaint("d-1", "freight_payment"))
    # The dossier's view of the driver's cases reads them by id too.
    view = await cases.dossiers.dossier(Principal(sub="op-1", role="operator"), "d-1")
    commands.recording = False
    # The store's own account of the same calls: nothing read every case or dossier.
    now_served = {name: await plans(db, name) for name in ("cases", DOSSIERS)}
    assert all(now_served[n]["scan"] == served[n]["scan"] for n in served), now_served
    indexed = [
        sum(counts[k] for k in ("id_first", "unique_index"))
        for counts in (served["cases"], now_served["cases"])
    ]
    assert indexed[1] > indexed[0], now_served
    assert {c.id for c in view.cases} == {first.case.id, second.case.id, elsewhere.case.id}

    assert first.duplicate_candidates == []
    assert second.duplicate_candidates == [first.case.id]
    assert elsewhere.duplicate_candidates == [], "another category is no duplicate"
    dossier = await db[DOSSIERS].find_one({"_id": "d-1"})
    assert dossier is not None
    assert sorted(dossier[CASE_IDS]) == sorted([first.case.id, second.case.id, elsewhere.case.id])

    unique = await unique_indexes(db, ["cases", DOSSIERS])
    judged = [(name, coll, q) for name, coll, q in commands.seen if coll in unique]
    assert {coll for _, coll, _ in judged} == {"cases", DOSSIERS}, commands.seen
    scans = [(name, coll, q) for name, coll, q in judged if not keyed(q, unique[coll])]
    assert scans == [], f"filters the local store answers by reading every document: {scans}"


async def test_a_dossier_from_before_the_list_is_filled_once_from_the_drivers_cases(
    store: Store,
) -> None:
    db, cases = store.db, store.cases
    kept = await cases.intake.open_case(STATION, complaint("d-old"))
    # As the earlier code left it: a dossier without the list.
    await db[DOSSIERS].update_one({"_id": "d-old"}, {"$unset": {CASE_IDS: ""}})

    again = await cases.intake.open_case(STATION, complaint("d-old"))
    assert again.duplicate_candidates == [kept.case.id]
    dossier = await db[DOSSIERS].find_one({"_id": "d-old"})
    assert dossier is not None
    assert sorted(dossier[CASE_IDS]) == sorted([kept.case.id, again.case.id])

    third = await cases.intake.open_case(STATION, complaint("d-old"))
    assert set(third.duplicate_candidates) == {kept.case.id, again.case.id}


async def test_the_breach_scan_announces_by_a_unique_key_and_once_per_due_time(
    store: Store,
) -> None:
    db, commands, cases, now = store.db, store.commands, store.cases, store.now
    opened = [await cases.intake.open_case(STATION, complaint(f"d-{i}")) for i in range(3)]
    now[0] = NOW + timedelta(days=40)  # every clock of these cases is long past due

    # Two instances read the same due cases; exactly one announces each.
    stale = await cases.breach_scan._clocks.due_for_scan(now[0], 10)
    commands.recording = True
    announced = await cases.breach_scan.scan()
    commands.recording = False
    assert announced > 0
    late = 0
    for case in stale:
        late += await cases.breach_scan._announce(case, now[0])
    assert late == 0, "a scan that read the same state announced again"
    for case in opened:
        doc = await db["cases"].find_one({"_id": case.case.id})
        assert doc is not None
        assert len(doc["announced"]) == len(set(doc["announced"])) > 0

    unique = await unique_indexes(db, ["cases"])
    writes = [(n, c, q) for n, c, q in commands.seen if c == "cases" and n != "find"]
    assert writes, commands.seen
    scans = [(n, c, q) for n, c, q in writes if not keyed(q, unique["cases"])]
    assert scans == [], f"filters the local store answers by reading every case: {scans}"
