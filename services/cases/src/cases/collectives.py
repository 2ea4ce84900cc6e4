"""Collective complaints: complaints about one respondent linked into a collective, each
still its own case (never merged); linking changes no status, clock or version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cases import domain
from cases.access import DISTRICT_READ, actors_of
from cases.case import Case
from cases.domain import CaseNotFound, NotPermitted, StaleCase, TransitionNotAllowed
from cases.records import CaseRecords, require
from common.auth import Principal

# A collective complaint links a few cases at least, and never an unbounded list.
MIN_LINKED, MAX_LINKED = 2, 200

Document = dict[str, Any]


@dataclass(frozen=True)
class Collective:
    collective_id: str
    respondent: Document | None
    cases: list[Case]
    drivers: int
    open: int


class Collectives:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records

    def _may_link(self, principal: Principal) -> None:
        require(
            bool(actors_of(principal) & {"dispatcher", "supervisor"}),
            "dispatchers and supervisors link collective complaints",
            NotPermitted,
        )

    async def link(self, principal: Principal, case_ids: list[str]) -> Collective:
        """Link complaints about one respondent; cases already in a collective decide which
        one: all the same, or refused. Each case is linked by its own conditional update.
        """
        self._may_link(principal)
        store = self._records.store
        ids = list(dict.fromkeys(case_ids))
        require(
            MIN_LINKED <= len(ids) <= MAX_LINKED,
            f"link between {MIN_LINKED} and {MAX_LINKED} cases",
        )
        by_id = {case.id: case for case in await store.get_many(ids)}
        missing = [cid for cid in ids if cid not in by_id]
        if missing:
            raise CaseNotFound(f"no such case: {', '.join(missing)}")
        cases = [by_id[cid] for cid in ids]
        require(all(case.kind == "complaint" for case in cases), "only complaints are linked")
        keys = {domain.respondent_key(case.doc) for case in cases}
        require(
            None not in keys and len(keys) == 1,
            "collective complaints name one and the same respondent",
        )
        groups = {case.collective_id for case in cases if case.collective_id}
        require(
            len(groups) <= 1,
            "these cases are in different collectives already",
            TransitionNotAllowed,
        )
        collective_id = next(iter(groups)) if groups else f"K-{uuid.uuid4().hex[:12]}"
        refused = [cid for cid in ids if not await store.link_collective(cid, collective_id)]
        if refused:
            raise StaleCase(
                f"linked into another collective meanwhile: {', '.join(refused)}; reload them"
            )
        return await self.get(principal, collective_id)

    async def unlink(self, principal: Principal, collective_id: str, case_id: str) -> Collective:
        self._may_link(principal)
        if not await self._records.store.unlink_collective(case_id, collective_id):
            raise CaseNotFound("this case is not in this collective")
        return await self.get(principal, collective_id, allow_empty=True)

    async def get(
        self, principal: Principal, collective_id: str, *, allow_empty: bool = False
    ) -> Collective:
        actors = actors_of(principal)
        # District staff as for the cases themselves (cases.access): with drivers:read, not any
        # operator (a notify editor reads no case, so no collective of them either).
        require(
            bool(actors & {"dispatcher", "supervisor", "revisit"})
            or (principal.role == "operator" and not actors and principal.has_scope(DISTRICT_READ)),
            "collectives are for dispatchers, supervisors and district staff",
            NotPermitted,
        )
        cases = await self._records.store.in_collective(collective_id, limit=1000)
        if not cases and not allow_empty:
            raise CaseNotFound("no such collective")
        return Collective(
            collective_id=collective_id,
            respondent=cases[0].doc.get("respondent") if cases else None,
            cases=cases,
            drivers=len({case.driver_id for case in cases}),
            open=sum(1 for case in cases if case.status not in domain.FINISHED),
        )
