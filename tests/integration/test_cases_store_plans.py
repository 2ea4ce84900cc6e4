"""Issue 19: cases' hot paths ask the store only for what it finds without reading every case.

Opening a case finds the driver's possible duplicates in the dossier it files the case in: the
dossier keeps the driver's open cases with their category and opening time, so intake reads no
case at all and costs the same at 100,000 open cases as at ten. A dossier from before it kept
them is filled once by reading the listed cases by ``_id``. The breach scan's announcement is
pinned by the version and the due time it read, a unique index's fields. Proven on the real
store by what the code asks it (tests/store_commands.py), and on dossiers kept from before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from cases.settings import CasesSettings
from cases.steps import ActionParams
from cases.store.dossiers import CASE_IDS, DOSSIERS, OPEN_CASES, OPEN_LISTED
from common.auth import Principal
from tests.integration.cases_store_harness import (
    DISPATCHER,
    NOW,
    STATION,
    SUPERVISOR,
    Store,
    cases_store,
    complaint,
)
from tests.store_commands import keyed, plans, unique_indexes


@pytest.fixture
async def store(make_settings: Callable[..., CasesSettings]) -> AsyncIterator[Store]:
    async with cases_store(make_settings(CasesSettings)) as made:
        yield made


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
    clerk = Principal(sub="op-1", role="operator", scope="drivers:read")
    view = await cases.dossiers.dossier(clerk, "d-1")
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


async def test_intake_finds_duplicates_in_the_dossier_it_files_in_reading_no_case(
    store: Store,
) -> None:
    db, commands, cases = store.db, store.commands, store.cases
    first = await cases.intake.open_case(STATION, complaint("d-2"))
    await cases.intake.open_case(STATION, complaint("d-2", "freight_payment"))

    commands.recording = True
    second = await cases.intake.open_case(STATION, complaint("d-2"))
    commands.recording = False
    assert second.duplicate_candidates == [first.case.id]
    # The dossier's findAndModify is the only command with a filter; the case's insert has none.
    assert commands.seen == [("findAndModify", DOSSIERS, {"_id": "d-2"})]
    dossier = await db[DOSSIERS].find_one({"_id": "d-2"})
    assert dossier is not None and dossier[OPEN_LISTED] is True
    assert dossier[OPEN_CASES][second.case.id]["category"] == "parking_rest"


async def test_a_case_finished_is_no_candidate_and_one_opened_again_is(store: Store) -> None:
    cases, act = store.cases, store.cases.transitions.act
    driver = Principal(sub="drv-3", role="driver", driver_id="d-3")
    rejected = (await cases.intake.open_case(STATION, complaint("d-3"))).case.id
    await act(DISPATCHER, rejected, "reject", ActionParams(reason_code="not_actionable"))

    later = await cases.intake.open_case(STATION, complaint("d-3"))
    assert later.duplicate_candidates == [], "a rejected case is not open"

    # The driver objects and a supervisor upholds it: the case is open again.
    await act(driver, rejected, "object", ActionParams())
    await act(SUPERVISOR, rejected, "uphold_objection", ActionParams())
    third = await cases.intake.open_case(STATION, complaint("d-3"))
    assert set(third.duplicate_candidates) == {rejected, later.case.id}

    await act(driver, later.case.id, "withdraw", ActionParams())
    fourth = await cases.intake.open_case(STATION, complaint("d-3"))
    assert set(fourth.duplicate_candidates) == {rejected, third.case.id}


async def test_a_dossier_from_before_the_list_is_filled_once_from_the_drivers_cases(
    store: Store,
) -> None:
    db, cases = store.db, store.cases
    kept = await cases.intake.open_case(STATION, complaint("d-old"))
    # As the earlier code left it: a dossier without the list.
    await db[DOSSIERS].update_one(
        {"_id": "d-old"}, {"$unset": {CASE_IDS: "", OPEN_CASES: "", OPEN_LISTED: ""}}
    )

    again = await cases.intake.open_case(STATION, complaint("d-old"))
    assert again.duplicate_candidates == [kept.case.id]
    dossier = await db[DOSSIERS].find_one({"_id": "d-old"})
    assert dossier is not None
    assert sorted(dossier[CASE_IDS]) == sorted([kept.case.id, again.case.id])

    third = await cases.intake.open_case(STATION, complaint("d-old"))
    assert set(third.duplicate_candidates) == {kept.case.id, again.case.id}


async def test_a_dossier_from_before_it_kept_open_cases_is_filled_once_with_the_open_ones(
    store: Store,
) -> None:
    db, commands, cases = store.db, store.commands, store.cases
    driver = Principal(sub="drv-4", role="driver", driver_id="d-4")
    kept = await cases.intake.open_case(STATION, complaint("d-4"))
    gone = await cases.intake.open_case(STATION, complaint("d-4"))
    await cases.transitions.act(driver, gone.case.id, "withdraw", ActionParams())
    # As the code before issue 19's open cases left it: the list, nothing kept of the cases.
    await db[DOSSIERS].update_one({"_id": "d-4"}, {"$unset": {OPEN_CASES: "", OPEN_LISTED: ""}})

    again = await cases.intake.open_case(STATION, complaint("d-4"))
    assert again.duplicate_candidates == [kept.case.id], "the withdrawn case is not open"
    dossier = await db[DOSSIERS].find_one({"_id": "d-4"})
    assert dossier is not None and dossier[OPEN_LISTED] is True
    assert set(dossier[OPEN_CASES]) == {kept.case.id, again.case.id}

    commands.recording = True
    fourth = await cases.intake.open_case(STATION, complaint("d-4"))
    commands.recording = False
    assert set(fourth.duplicate_candidates) == {kept.case.id, again.case.id}
    assert [name for name, _, _ in commands.seen] == ["findAndModify"], "filled once"


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
