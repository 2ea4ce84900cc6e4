"""Care brokers' reads. Issue 19: a broker's workload is read by ``_id`` — the broker's roster,
the dossiers on it, their listed cases — so it costs the same at a district's 100,000 cases as
at ten. And who may read a workload, or a driver's dossier.

Before, the workload asked for every dossier naming the broker and then counted the cases of
those drivers by ``driver_id``: on the local store, a read of every dossier and every case
(2.6–3.8 s for a 300-driver broker among 100,000 cases). Proven on the real store by what the
code asks it (tests/store_commands.py) and its own count of how it served each collection; with
rosters and dossiers kept from before, and a roster naming drivers no longer the broker's.

A dossier shows up to 200 of the driver's cases with their descriptions and history, so it is
read by those who read the driver's cases (cases.access): an operator without a case role only
with ``drivers:read``. Before, any such operator read it — a notify editor or a points
administrator read every driver's complaints here that ``GET /v1/cases/{id}`` refused them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cases.app import create_app
from cases.domain import CaseNotFound, NotPermitted
from cases.settings import CasesSettings
from cases.steps import ActionParams
from cases.store.dossiers import CASE_IDS, DOSSIERS
from cases.store.rosters import DRIVERS, LISTED, ROSTERS
from common.auth import Principal
from tests.integration.cases_store_harness import (
    DISPATCHER,
    STATION,
    SUPERVISOR,
    Store,
    cases_store,
    complaint,
)
from tests.store_commands import keyed, plans, unique_indexes
from tests.support import serve

COLLECTIONS = ("cases", DOSSIERS, ROSTERS)


async def load(store: Store, broker_id: str) -> tuple[int, int]:
    workload = await store.cases.dossiers.workload(SUPERVISOR, broker_id)
    assert workload.broker_id == broker_id
    return workload.drivers, workload.open_cases


async def open_case(store: Store, driver_id: str) -> str:
    return (await store.cases.intake.open_case(STATION, complaint(driver_id))).case.id


async def name(store: Store, driver_id: str, broker_id: str) -> None:
    await store.cases.dossiers.assign_broker(SUPERVISOR, driver_id, broker_id)


@pytest.fixture
async def store(make_settings: Callable[..., CasesSettings]) -> AsyncIterator[Store]:
    async with cases_store(make_settings(CasesSettings)) as made:
        yield made


async def served(db: Any) -> dict[str, dict[str, int]]:
    return {name: await plans(db, name) for name in COLLECTIONS}


async def test_a_workload_counts_the_brokers_drivers_and_their_unfinished_cases_by_id(
    store: Store,
) -> None:
    db, commands = store.db, store.commands
    for driver in ("d-a", "d-b"):
        await name(store, driver, "broker-1")
    await name(store, "d-c", "broker-2")
    a1, a2, b1 = (
        await open_case(store, "d-a"),
        await open_case(store, "d-a"),
        await open_case(store, "d-b"),
    )
    await open_case(store, "d-c")
    for other in ("d-other-1", "d-other-2"):  # no broker: never counted
        await open_case(store, other)
    await store.cases.transitions.act(
        DISPATCHER, a2, "reject", ActionParams(reason_code="not_actionable")
    )
    assert await load(store, "broker-1") == (2, 2), "the rejected case is finished"

    before = await served(db)
    commands.recording = True
    assert await load(store, "broker-1") == (2, 2)
    commands.recording = False
    after = await served(db)
    assert all(after[n]["scan"] == before[n]["scan"] for n in COLLECTIONS), after
    unique = await unique_indexes(db, list(COLLECTIONS))
    judged = [(name, coll, q) for name, coll, q in commands.seen if coll in unique]
    assert {coll for _, coll, _ in judged} == set(COLLECTIONS), commands.seen
    scans = [(name, coll, q) for name, coll, q in judged if not keyed(q, unique[coll])]
    assert scans == [], f"filters the local store answers by reading every document: {scans}"

    # Named to another broker: off the first one's workload, on the other's. The first roster
    # still lists the driver; the dossier decides.
    await name(store, "d-b", "broker-2")
    assert await load(store, "broker-1") == (1, 1)
    assert await load(store, "broker-2") == (2, 2)
    roster = await db[ROSTERS].find_one({"_id": "broker-1"})
    assert roster is not None and sorted(roster[DRIVERS]) == ["d-a", "d-b"]
    # And back: counted once, whatever the rosters hold.
    await name(store, "d-b", "broker-1")
    assert await load(store, "broker-1") == (2, 2)
    assert await load(store, "broker-2") == (1, 1)

    # A case the driver withdraws stops counting; one whose objection is upheld counts again.
    driver_a = Principal(sub="drv-a", role="driver", driver_id="d-a")
    await store.cases.transitions.act(driver_a, a1, "withdraw", ActionParams())
    assert await load(store, "broker-1") == (2, 1)
    await store.cases.transitions.act(driver_a, a2, "object", ActionParams())
    assert await load(store, "broker-1") == (2, 2), "an objection is not finished"
    await store.cases.transitions.act(SUPERVISOR, a2, "uphold_objection", ActionParams())
    assert await load(store, "broker-1") == (2, 2)
    await store.cases.transitions.act(
        DISPATCHER, b1, "reject", ActionParams(reason_code="not_actionable")
    )
    assert await load(store, "broker-1") == (2, 1)


async def test_a_broker_named_before_rosters_is_listed_once_from_the_dossiers(
    store: Store,
) -> None:
    db, commands = store.db, store.commands
    for driver in ("d-1", "d-2", "d-3"):
        await open_case(store, driver)
    # As the code before rosters left it: the dossiers name the broker, no roster exists.
    await db[DOSSIERS].update_many(
        {"_id": {"$in": ["d-1", "d-2"]}}, {"$set": {"broker_id": "b-old"}}
    )
    # A driver named since, before the broker's workload was first read: a roster, not listed.
    await name(store, "d-3", "b-old")
    roster = await db[ROSTERS].find_one({"_id": "b-old"})
    assert roster is not None and roster[DRIVERS] == ["d-3"] and LISTED not in roster

    assert await load(store, "b-old") == (3, 3)
    roster = await db[ROSTERS].find_one({"_id": "b-old"})
    assert roster is not None and sorted(roster[DRIVERS]) == ["d-1", "d-2", "d-3"]
    assert roster[LISTED] is True

    before = await served(db)
    commands.recording = True
    assert await load(store, "b-old") == (3, 3)
    commands.recording = False
    assert (await served(db))[DOSSIERS]["scan"] == before[DOSSIERS]["scan"], "listed once"


async def test_a_dossier_from_before_it_listed_cases_is_counted_by_driver(store: Store) -> None:
    db = store.db
    await name(store, "d-old", "broker-9")
    await open_case(store, "d-old")
    await open_case(store, "d-old")
    await db[DOSSIERS].update_one({"_id": "d-old"}, {"$unset": {CASE_IDS: ""}})
    assert await load(store, "broker-9") == (1, 2)


async def test_a_roster_naming_drivers_no_longer_the_brokers_counts_only_the_brokers_drivers(
    store: Store,
) -> None:
    db = store.db
    await name(store, "d-1", "broker-1")
    await name(store, "d-2", "broker-2")
    await open_case(store, "d-2")
    assert await load(store, "broker-1") == (1, 0)
    # A driver named to another broker since, and one whose dossier is gone (erased after
    # being listed, or a naming that failed after its listing).
    await db[ROSTERS].update_one(
        {"_id": "broker-1"}, {"$addToSet": {DRIVERS: {"$each": ["d-2", "d-gone"]}}}
    )
    assert await load(store, "broker-1") == (1, 0)
    assert await load(store, "broker-2") == (1, 1)


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal(sub="broker-1", role="operator", scope="cases:care"), True),
        (Principal(sub="broker-2", role="operator", scope="cases:care"), False),
        (SUPERVISOR, True),
        (DISPATCHER, True),
        (Principal(sub="clerk-1", role="operator", scope="drivers:read"), True),
        (Principal(sub="editor-1", role="operator", scope="notify:broadcast"), False),
        (Principal(sub="h-1", role="operator", scope="cases:handle", unit_id="U1"), False),
        (Principal(sub="drv-1", role="driver", driver_id="d-1"), False),
    ],
)
async def test_a_workload_is_for_the_broker_case_oversight_and_district_staff(
    store: Store, principal: Principal, allowed: bool
) -> None:
    await name(store, "d-1", "broker-1")
    await open_case(store, "d-1")
    if allowed:
        load = await store.cases.dossiers.workload(principal, "broker-1")
        assert (load.drivers, load.open_cases) == (1, 1)
    else:
        with pytest.raises(NotPermitted):
            await store.cases.dossiers.workload(principal, "broker-1")


async def test_the_workload_route_answers_the_broker_and_refuses_another_with_a_problem(
    make_settings: Callable[..., CasesSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(CasesSettings), scan=False)
    supervisor = token("operator", scope="cases:supervise", sub="supervisor-1")
    async with serve(app) as client:
        named = await client.put(
            "/v1/dossiers/d-http/broker", json={"broker_id": "broker-h"}, headers=supervisor
        )
        assert named.status_code == 200, named.text
        mine = token("operator", scope="cases:care", sub="broker-h")
        answer = await client.get("/v1/brokers/broker-h/workload", headers=mine)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"broker_id": "broker-h", "drivers": 1, "open_cases": 0}

        other = token("operator", scope="cases:care", sub="broker-x")
        refused = await client.get("/v1/brokers/broker-h/workload", headers=other)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "workload" in refused.json()["detail"]
        driver = token("driver", driver_id="d-http")
        assert (
            await client.get("/v1/brokers/broker-h/workload", headers=driver)
        ).status_code == 403


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal(sub="drv-1", role="driver", driver_id="d-1"), True),
        (Principal(sub="drv-2", role="driver", driver_id="d-2"), False),
        (SUPERVISOR, True),
        (Principal(sub="op-dispatch", role="operator", scope="cases:dispatch"), True),
        (Principal(sub="op-revisit", role="operator", scope="cases:revisit"), True),
        (Principal(sub="broker-1", role="operator", scope="cases:care"), True),
        (Principal(sub="broker-2", role="operator", scope="cases:care"), False),
        (Principal(sub="clerk-1", role="operator", scope="drivers:read"), True),
        (Principal(sub="editor-1", role="operator", scope="notify:broadcast"), False),
        (Principal(sub="points-1", role="operator", scope="points:adjust"), False),
        (Principal(sub="op-bare", role="operator"), False),
        (Principal(sub="h-1", role="operator", scope="cases:handle", unit_id="U1"), False),
        (Principal(sub="station-7", role="station", station_id="S7"), False),
    ],
)
async def test_a_dossier_is_read_by_those_who_read_the_drivers_cases(
    store: Store, principal: Principal, allowed: bool
) -> None:
    await store.cases.dossiers.assign_broker(SUPERVISOR, "d-1", "broker-1")
    opened = await store.cases.intake.open_case(STATION, complaint("d-1"))
    if not allowed:
        with pytest.raises(CaseNotFound):
            await store.cases.dossiers.dossier(principal, "d-1")
        return
    dossier = await store.cases.dossiers.dossier(principal, "d-1")
    assert dossier.broker_id == "broker-1"
    assert [c.id for c in dossier.cases] == [opened.case.id]
    # The same caller and the case itself agree.
    assert (await store.cases.records.visible(principal, opened.case.id)).id == opened.case.id


BROKER = Principal(sub="broker-1", role="operator", scope="cases:care")


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal(sub="drv-1", role="driver", driver_id="d-1"), True),
        (BROKER, True),
        # The care role acts for the broker's own drivers only. Seeing the case through another
        # role (supervision, a handler's unit) does not make the caller the driver's broker.
        (Principal(sub="broker-2", role="operator", scope="cases:supervise cases:care"), False),
        (Principal(sub="broker-2", role="operator", scope="cases:care"), False),
        (Principal(sub="broker-1", role="operator", scope="cases:supervise cases:care"), True),
        (SUPERVISOR, False),
    ],
)
async def test_the_care_role_withdraws_only_for_the_brokers_own_drivers(
    store: Store, principal: Principal, allowed: bool
) -> None:
    await name(store, "d-1", "broker-1")
    case_id = await open_case(store, "d-1")
    if not allowed:
        with pytest.raises((NotPermitted, CaseNotFound)):
            await store.cases.transitions.act(principal, case_id, "withdraw", ActionParams())
        assert (await store.cases.records.visible(SUPERVISOR, case_id)).status == "received"
        return
    done = await store.cases.transitions.act(principal, case_id, "withdraw", ActionParams())
    assert done.status == "withdrawn"


async def test_a_handler_with_the_care_role_answers_for_a_driver_only_in_their_own_unit(
    store: Store,
) -> None:
    """``driver_replied`` is for the driver, their broker, or a handler of the current unit."""
    await name(store, "d-1", "broker-1")
    case_id = await open_case(store, "d-1")
    await store.cases.transitions.act(
        DISPATCHER, case_id, "dispatch", ActionParams(unit_ids=["U1", "U2"])
    )
    in_u1 = Principal(sub="h-1", role="operator", scope="cases:handle", unit_id="U1")
    await store.cases.transitions.act(in_u1, case_id, "accept", ActionParams())
    await store.cases.transitions.act(in_u1, case_id, "request_info", ActionParams(note="运单号?"))
    outsider = Principal(sub="h-9", role="operator", scope="cases:handle cases:care", unit_id="U2")
    with pytest.raises(NotPermitted):
        await store.cases.transitions.act(outsider, case_id, "driver_replied", ActionParams())
    assert (await store.cases.records.visible(SUPERVISOR, case_id)).status == "awaiting_driver"
    done = await store.cases.transitions.act(BROKER, case_id, "driver_replied", ActionParams())
    assert done.status == "in_progress"
