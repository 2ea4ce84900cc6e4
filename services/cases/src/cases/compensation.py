"""Compensation: a supervisor grants restoration or goodwill points for an upheld complaint
about a programme service; the points service credits it and tells us (noted once).

Points for our own missed deadlines are granted by the breach scan (``breach_scan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cases import domain
from cases.access import actors_of
from cases.case import Case
from cases.domain import NotPermitted, StaleCase, TransitionNotAllowed
from cases.records import CaseRecords, require
from common.auth import Principal
from common.events import cases as ev
from common.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CompensationCredited:
    """Points credited one of our compensations (its id starts with the case id)."""

    compensation_id: str
    entry_id: str
    amount: int
    applied_at: datetime


class Compensations:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records

    async def grant(self, principal: Principal, case_id: str, kind: str, amount: int) -> Case:
        case = await self.check(principal, case_id, kind, amount)
        return await self._grant(case, kind, amount, approved_by=principal.actor)

    async def check(self, principal: Principal, case_id: str, kind: str, amount: int) -> Case:
        """The case, if this supervisor may compensate it so (raises otherwise)."""
        require(
            "supervisor" in actors_of(principal), "supervisors approve compensation", NotPermitted
        )
        case = await self._records.visible(principal, case_id)
        self._compensable(case, kind, amount)
        return case

    async def grant_approved(
        self, case_id: str, kind: str, amount: int, *, proposed_by: str, approved_by: str
    ) -> Case:
        """A compensation a second supervisor approved (four eyes); granted once, however often
        the approval runs."""
        case = await self._records.reload(case_id)
        granted = next((c for c in case.compensations if c["id"] == f"{case_id}:{kind}"), None)
        if granted is not None and granted.get("approval") == [proposed_by, approved_by]:
            return case  # this approval's earlier run granted it
        self._compensable(case, kind, amount)
        return await self._grant(
            case, kind, amount, approved_by=approved_by, proposed_by=proposed_by
        )

    def _compensable(self, case: Case, kind: str, amount: int) -> None:
        require(kind in ("restoration", "goodwill"), "kind is restoration or goodwill")
        require(case.kind == "complaint", "only an upheld complaint is compensated")
        programme = (
            case.category in domain.PROGRAMME_CATEGORIES
            or case.respondent.get("kind") == "programme"
        )
        require(
            programme,
            "only complaints about a programme service; never for a third party's misconduct",
        )
        require(case.outcome in ("upheld", "partly_upheld"), "the complaint was not upheld")
        most = self._records.settings.max_goodwill_points
        require(1 <= amount <= most, f"between 1 and {most} points")

    async def _grant(
        self,
        case: Case,
        kind: str,
        amount: int,
        *,
        approved_by: str,
        proposed_by: str | None = None,
    ) -> Case:
        records = self._records
        case_id = case.id
        now = records.clock()
        comp_id = f"{case_id}:{kind}"
        event = records.event(
            ev.CaseCompensationGranted(
                compensation_id=comp_id,
                case_id=case_id,
                driver_id=case.driver_id,
                kind=kind,
                amount=amount,
                approved_by=approved_by,
                granted_at=now,
            ),
            case,
            comp_id,
        )
        record = {"id": comp_id, "kind": kind, "amount": amount, "by": approved_by, "at": now}
        if proposed_by is not None:  # four eyes: who proposed it and who approved it
            record["approval"] = [proposed_by, approved_by]
        if not await records.store.grant_compensation(
            case_id, version=case.version, record=record, outbox=event
        ):
            fresh = await records.reload(case_id)
            if any(c["id"] == comp_id for c in fresh.compensations):
                raise TransitionNotAllowed(f"{kind} compensation was already granted for this case")
            raise StaleCase(
                "the case was changed by someone else meanwhile; reload it and try again"
            )
        await records.flush(case_id)
        return await records.reload(case_id)

    async def credited(self, credited: CompensationCredited) -> bool:
        """Note on the case once that points credited it (redeliveries change nothing).

        One conditional update that does not bump the version, so it never makes a person's
        transition fail.
        """
        store = self._records.store
        case_id = credited.compensation_id.split(":", 1)[0]
        applied = await store.mark_compensation_applied(
            case_id,
            {
                "id": credited.compensation_id,
                "entry_id": credited.entry_id,
                "amount": credited.amount,
                "applied_at": credited.applied_at,
            },
        )
        if not applied and await store.get(case_id) is None:
            log.warning(
                "compensation for an unknown case", compensation_id=credited.compensation_id
            )
        return applied
