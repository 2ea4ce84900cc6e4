"""Dossiers: one file per driver with the named care broker, the driver's cases over time, a
broker's workload; and what the registry tells us about drivers (joined, erased).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cases.access import DISTRICT_READ, OVERSIGHT, actors_of
from cases.case import Case
from cases.domain import CaseNotFound, NotPermitted
from cases.records import CaseRecords, require
from cases.store.dossiers import CASE_IDS
from cases.store.rosters import RosterStore
from common.auth import Principal

Document = dict[str, Any]


@dataclass(frozen=True)
class DriverJoined:
    driver_id: str
    at: datetime


@dataclass(frozen=True)
class DriverErased:
    driver_id: str


@dataclass(frozen=True)
class Dossier:
    driver_id: str
    broker_id: str | None
    brokers: list[Document]
    cases: list[Case]


@dataclass(frozen=True)
class Workload:
    broker_id: str
    drivers: int
    open_cases: int


class Dossiers:
    def __init__(self, records: CaseRecords, rosters: RosterStore) -> None:
        self._records = records
        self._rosters = rosters

    async def driver_joined(self, joined: DriverJoined) -> None:
        await self._records.dossiers.open(joined.driver_id, joined.at)

    async def driver_erased(self, erased: DriverErased) -> None:
        # Personal data goes; the cases stay as pseudonymous records for the figures.
        await self._records.store.erase_personal_data(erased.driver_id)

    async def assign_broker(self, principal: Principal, driver_id: str, broker_id: str) -> str:
        """Name the driver's care broker; the broker named now. On the broker's roster before
        the dossier names them (store/rosters.py)."""
        require("supervisor" in actors_of(principal), "supervisors name care brokers", NotPermitted)
        records = self._records
        await records.refuse_erased(driver_id)
        await self._rosters.add(broker_id, driver_id)
        doc = await records.dossiers.assign(driver_id, broker_id, records.clock(), principal.actor)
        return str(doc["broker_id"])

    async def dossier(self, principal: Principal, driver_id: str) -> Dossier:
        records = self._records
        doc = await records.dossiers.get(driver_id)
        if doc is None:
            raise CaseNotFound("no dossier for this driver")
        actors = actors_of(principal)
        # As for the cases themselves (cases.access): district staff read with drivers:read,
        # not any operator (a notify editor reads no case, so no dossier either).
        allowed = (
            (principal.role == "driver" and principal.driver_id == driver_id)
            or bool(actors & OVERSIGHT)
            or ("care" in actors and doc.get("broker_id") == principal.actor)
            or (principal.role == "operator" and not actors and principal.has_scope(DISTRICT_READ))
        )
        if not allowed:
            raise CaseNotFound("no dossier for this driver")
        return Dossier(
            driver_id=driver_id,
            broker_id=doc.get("broker_id"),
            brokers=doc.get("brokers", []),
            cases=await self._cases_of(doc),
        )

    async def _cases_of(self, doc: Document) -> list[Case]:
        """The driver's latest 200 cases, newest first: by id from the dossier's list, or, for a
        dossier kept from before it listed them, by driver (a scan on the local store)."""
        store = self._records.store
        listed = doc.get(CASE_IDS)
        if listed is None:
            return await store.of_driver(doc["_id"], limit=200)
        return (await store.get_many(list(listed)))[:200]

    async def workload(self, principal: Principal, broker_id: str) -> Workload:
        """The drivers named to the broker and their unfinished cases, for the broker, case
        oversight and district staff. Read by ``_id`` from the roster, the dossiers and their
        listed cases: the same cost at a district's 100,000 cases as at ten (issue 19)."""
        actors = actors_of(principal)
        allowed = (
            bool(actors & OVERSIGHT)
            or ("care" in actors and principal.actor == broker_id)
            or (not actors and principal.has_scope(DISTRICT_READ))
        )
        require(allowed, "a broker's workload is for the broker and case oversight", NotPermitted)
        records = self._records
        roster, listed = await self._rosters.get(broker_id)
        if not listed:
            earlier = await records.dossiers.drivers_of(broker_id)
            await self._rosters.fill(broker_id, earlier)
            roster = sorted({*roster, *earlier})
        dossiers = await records.dossiers.brokered_among(broker_id, roster)
        case_ids = [c for d in dossiers for c in d.get(CASE_IDS) or ()]
        # Dossiers from before they listed their cases: by driver, until their next intake.
        unlisted = [d["_id"] for d in dossiers if d.get(CASE_IDS) is None]
        open_cases = await records.store.count_unfinished_among(case_ids)
        if unlisted:
            open_cases += await records.store.count_open_of(unlisted)
        return Workload(broker_id=broker_id, drivers=len(dossiers), open_cases=open_cases)
