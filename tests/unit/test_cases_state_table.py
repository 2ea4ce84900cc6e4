"""The cases state table and its use cases on in-memory stores (no store, no broker)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.errors import AutoReconnect
from structlog.testing import capture_logs

from cases import domain, state_table
from cases.calendar import BusinessCalendar
from cases.case import Case
from cases.compensation import CompensationCredited
from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, StaleCase, TransitionNotAllowed
from cases.intake import Intake
from cases.records import CaseRecords
from cases.service import Cases
from cases.settings import CasesSettings
from cases.state_table import STEPS
from cases.steps import ActionParams, Move, Rules
from cases.store.case_clocks import CaseClocks
from cases.store.cases import CaseStore
from cases.store.dossiers import DossierStore, Listing
from cases.store.rosters import RosterStore
from common.auth import Principal
from common.events import CloudEvent

Document = dict[str, Any]
SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar([2025, 2026])

DRIVER = Principal(sub="drv-sub", role="driver", driver_id="D1")
DISPATCHER = Principal(sub="op-dispatch", role="operator", scope="cases:dispatch")
SUPERVISOR = Principal(sub="op-sup", role="operator", scope="cases:supervise")
HANDLER = Principal(sub="op-h1", role="operator", scope="cases:handle", unit_id="U1")
REVISITOR = Principal(sub="op-rv", role="operator", scope="cases:revisit")


def _set(doc: Document, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


class MemoryCases(CaseStore):
    """The case store as a dict, with the same conditional updates the use cases rely on."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def insert(self, case: Case) -> None:
        self.docs[case.id] = copy.deepcopy(case.doc)

    async def get(self, case_id: str) -> Case | None:
        doc = self.docs.get(case_id)
        if doc is None:
            return None
        return Case.of(copy.deepcopy({k: v for k, v in doc.items() if k != "outbox"}))

    async def get_many(self, case_ids: list[str]) -> list[Case]:
        found = [self.docs[i] for i in case_ids if i in self.docs]
        found.sort(key=lambda d: (d["opened_at"], d["_id"]), reverse=True)
        return [Case.of(copy.deepcopy(d)) for d in found]

    async def summaries(self, case_ids: list[str]) -> list[Document]:
        fields = ("_id", "category", "status", "opened_at")
        return [{f: self.docs[i][f] for f in fields} for i in case_ids if i in self.docs]

    async def ids_of_driver(self, driver_id: str) -> list[str]:
        return [i for i, d in self.docs.items() if d["driver_id"] == driver_id]

    async def transition(
        self,
        case_id: str,
        *,
        status: str,
        version: int,
        set_fields: Document,
        append: Document,
        outbox: Document,
        add_units: list[str] | None = None,
    ) -> bool:
        doc = self.docs.get(case_id)
        if doc is None or doc["status"] != status or doc["version"] != version:
            return False
        for path, value in set_fields.items():
            _set(doc, path, copy.deepcopy(value))
        doc["version"] += 1
        for name, value in append.items():
            doc.setdefault(name, []).append(copy.deepcopy(value))
        doc.setdefault("outbox", []).append(copy.deepcopy(outbox))
        doc["unit_ids"] += [u for u in add_units or [] if u not in doc["unit_ids"]]
        return True

    async def claim_merge_target(self, target_id: str, *, version: int, absorbed_id: str) -> bool:
        doc = self.docs.get(target_id)
        if doc is None or doc["version"] != version or doc["status"] not in domain.ACTIVE:
            return False
        doc["absorbed"].append(absorbed_id)
        doc["version"] += 1
        return True

    async def release_merge_target(self, target_id: str, absorbed_id: str) -> None:
        absorbed = self.docs[target_id]["absorbed"]
        absorbed[:] = [a for a in absorbed if a != absorbed_id]

    async def mark_compensation_applied(self, case_id: str, record: Document) -> bool:
        doc = self.docs.get(case_id)
        if doc is None or any(r["id"] == record["id"] for r in doc["compensations_applied"]):
            return False
        doc["compensations_applied"].append(record)
        return True


class MemoryDossiers(DossierStore):
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def open(self, driver_id: str, at: datetime) -> None:
        self.docs.setdefault(
            driver_id, {"_id": driver_id, "broker_id": None, "brokers": [], "case_ids": []}
        )

    async def file_case(
        self, driver_id: str, case_id: str, at: datetime, summary: Document
    ) -> Listing:
        before = copy.deepcopy(self.docs.get(driver_id))
        doc = self.docs.setdefault(
            driver_id, {"_id": driver_id, "broker_id": None, "brokers": [], "open_listed": True}
        )
        doc["case_ids"] = [*doc.get("case_ids", []), case_id]
        doc.setdefault("open_cases", {})[case_id] = summary
        if before is None:
            return Listing([], {})
        listed = before.get("case_ids")
        tracked = before.get("open_listed") and listed is not None
        return Listing(listed, before.get("open_cases", {}) if tracked else None)

    async def list_cases(self, driver_id: str, case_ids: list[str]) -> None:
        doc = self.docs[driver_id]
        doc["case_ids"] = [*case_ids, *[i for i in doc["case_ids"] if i not in case_ids]]

    async def list_open(self, driver_id: str, open_cases: dict[str, Document]) -> None:
        self.docs[driver_id].setdefault("open_cases", {}).update(open_cases)
        self.docs[driver_id]["open_listed"] = True

    async def case_open(self, driver_id: str, case_id: str, summary: Document) -> None:
        if driver_id in self.docs:
            self.docs[driver_id].setdefault("open_cases", {})[case_id] = summary

    async def case_finished(self, driver_id: str, case_id: str, version: int) -> None:
        listed = self.docs.get(driver_id, {}).get("open_cases", {})
        if case_id in listed and listed[case_id].get("v", 0) <= version:
            listed.pop(case_id)

    async def get(self, driver_id: str) -> Document | None:
        return self.docs.get(driver_id)


class MemoryRosters(RosterStore):
    def __init__(self) -> None:
        self.drivers: dict[str, set[str]] = {}

    async def get(self, broker_id: str) -> tuple[list[str], bool]:
        return sorted(self.drivers.get(broker_id, ())), True

    async def add(self, broker_id: str, driver_id: str) -> None:
        self.drivers.setdefault(broker_id, set()).add(driver_id)


class NoScan(CaseClocks):
    """These tests make no breach scan."""

    def __init__(self) -> None:
        pass


class World:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=SH)  # a Monday, in office hours
        self.store = MemoryCases()
        records = CaseRecords(
            self.store, MemoryDossiers(), CAL, CasesSettings(), clock=lambda: self.now
        )
        self.cases = Cases.build(records, NoScan(), MemoryRosters())

    async def open(self, **kw: Any) -> str:
        intake = Intake(
            kind=kw.pop("kind", "complaint"),
            category=kw.pop("category", "programme_points"),
            channel="app",
            description="扣分不对",
            driver_id="D1",
            **kw,
        )
        opened = await self.cases.intake.open_case(DRIVER, intake)
        return opened.case.id

    async def act(self, who: Principal, case_id: str, action: str, **params: Any) -> Case:
        return await self.cases.transitions.act(who, case_id, action, ActionParams(**params))

    def events(self, case_id: str) -> list[CloudEvent]:
        outbox = self.store.docs[case_id]["outbox"]
        return [CloudEvent.model_validate_json(entry["payload"]) for entry in outbox]


@pytest.fixture
def world() -> World:
    return World()


def test_every_transition_of_the_state_table_has_exactly_one_step() -> None:
    assert set(STEPS) == set(domain.TRANSITIONS)
    assert all(step.__module__ == state_table.__name__ for step in STEPS.values())


async def test_a_case_goes_round_the_loop_and_each_transition_is_announced_once(
    world: World,
) -> None:
    cid = await world.open()
    await world.act(DISPATCHER, cid, "dispatch", unit_ids=["U1"])
    await world.act(HANDLER, cid, "accept")
    await world.act(HANDLER, cid, "feedback", note="we are looking into it")
    case = await world.act(HANDLER, cid, "resolve", outcome="upheld", note="points restored")
    assert case.status == "resolved" and case.outcome == "upheld"
    closed = await world.act(REVISITOR, cid, "revisit", satisfaction="satisfied", solved="solved")

    assert closed.status == "closed" and closed.version == 6
    assert [h["action"] for h in closed.doc["history"]] == [
        "open",
        "dispatch",
        "accept",
        "feedback",
        "resolve",
        "revisit",
    ]
    events = world.events(cid)
    assert [e.id for e in events] == [f"{cid}:opened"] + [f"{cid}:v{v}" for v in range(2, 7)]
    assert [e.type for e in events][-2:] == ["case.resolved.v1", "case.closed.v1"]
    assert closed.clocks["first_response"]["met_at"] is not None


async def test_the_table_refuses_the_wrong_status_the_wrong_actor_and_unknown_names(
    world: World,
) -> None:
    cid = await world.open()
    with pytest.raises(CaseNotFound):
        await world.act(HANDLER, cid, "accept")  # not offered to the unit: not even seen
    with pytest.raises(TransitionNotAllowed):
        await world.act(DISPATCHER, cid, "accept")  # not assigned yet
    with pytest.raises(NotPermitted):
        await world.act(DRIVER, cid, "dispatch", unit_ids=["U1"])
    with pytest.raises(InvalidRequest):
        await world.act(DISPATCHER, cid, "teleport")
    with pytest.raises(InvalidRequest):
        await world.act(DISPATCHER, cid, "dispatch", unit_ids=[])  # offer to 1 to 5 units
    assert (await world.store.get(cid)) is not None
    assert world.store.docs[cid]["version"] == 1


async def test_a_merge_that_loses_the_race_releases_its_claim_on_the_target(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await world.open()
    second = await world.open()
    stale = await world.store.get(second)
    await world.act(DRIVER, second, "withdraw")  # someone else changes it meanwhile

    async def read_stale(case_id: str) -> Case | None:
        return stale if case_id == second else await MemoryCases.get(world.store, case_id)

    monkeypatch.setattr(world.store, "get", read_stale)
    with pytest.raises(StaleCase):
        await world.act(DISPATCHER, second, "merge", target_case_id=first)
    assert world.store.docs[first]["absorbed"] == []


async def test_a_dossier_that_cannot_be_written_after_a_step_leaves_the_step_standing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = await world.open()
    dossiers = world.cases.transitions._records.dossiers

    async def store_down(driver_id: str, case_id: str, version: int) -> None:
        raise AutoReconnect("store unreachable")

    monkeypatch.setattr(dossiers, "case_finished", store_down)
    with capture_logs() as logs:
        withdrawn = await world.act(DRIVER, cid, "withdraw")
    assert withdrawn.status == "withdrawn"
    assert [e.type for e in world.events(cid)][-1] == "case.status_changed.v1"
    # Listed open still: a candidate too many for a while, never an open case missed.
    assert cid in (await dossiers.get("D1") or {})["open_cases"]
    assert [entry["case_id"] for entry in logs if entry["log_level"] == "warning"] == [cid]


async def test_returned_twice_only_a_supervisor_assigns_it_and_to_one_unit(world: World) -> None:
    cid = await world.open()
    base = await world.store.get(cid)
    assert base is not None
    case = Case.of({**base.doc, "needs_supervisor": True})
    rules = Rules(CAL, domain.ClockPolicy(), CasesSettings(), world.store)

    def move(who: Principal, actors: set[str], units: list[str]) -> Move:
        return Move(case, who, frozenset(actors), ActionParams(unit_ids=units), world.now)

    with pytest.raises(NotPermitted):
        await state_table.dispatch(move(DISPATCHER, {"dispatcher"}, ["U1"]), rules)
    with pytest.raises(InvalidRequest):
        await state_table.dispatch(move(SUPERVISOR, {"supervisor"}, ["U1", "U2"]), rules)
    step = await state_table.dispatch(move(SUPERVISOR, {"supervisor"}, ["U2"]), rules)
    assert step.target == "assigned" and step.fields["final_assignment"] is True
    assert step.add_units == ["U2"]


async def test_a_credited_compensation_is_noted_once(world: World) -> None:
    cid = await world.open()
    credited = CompensationCredited(
        compensation_id=f"{cid}:goodwill", entry_id="e1", amount=50, applied_at=world.now
    )
    assert await world.cases.compensations.credited(credited) is True
    assert await world.cases.compensations.credited(credited) is False
    assert [r["id"] for r in world.store.docs[cid]["compensations_applied"]] == [f"{cid}:goodwill"]
    assert world.store.docs[cid]["version"] == 1  # never makes a person's transition fail
