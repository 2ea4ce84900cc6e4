"""Clocks and extensions: a handler asks for the round's one extension of the resolution
deadline before it passes; a supervisor approves (moving the deadline and announcing it) or
refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases import domain
from cases.access import actors_of
from cases.calendar import provisional
from cases.case import Case
from cases.domain import ACTIVE, NotPermitted, StaleCase, TransitionNotAllowed
from cases.records import CaseRecords, apply_fields, aware, require
from common.auth import Principal
from common.events import cases as ev

Document = dict[str, Any]


@dataclass(frozen=True)
class ExtensionAsked:
    working_days: int
    reason_code: str
    note: str


class Extensions:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records

    async def request(self, principal: Principal, case_id: str, asked: ExtensionAsked) -> Case:
        records = self._records
        case = await records.visible(principal, case_id)
        require("handler" in actors_of(principal), "handlers ask for extensions", NotPermitted)
        require(
            principal.unit_id is not None and principal.unit_id == case.unit_id,
            "only a member of the handling unit may do this",
            NotPermitted,
        )
        require(
            case.status in ACTIVE - {"received", "assigned"},
            "only a case in hand can be extended",
            TransitionNotAllowed,
        )
        require(
            asked.reason_code in domain.EXTENSION_REASONS,
            f"reason_code must be one of {', '.join(domain.EXTENSION_REASONS)}",
        )
        most = records.settings.max_extension_working_days
        require(1 <= asked.working_days <= most, f"extend by 1 to {most} working days")
        now = records.clock()
        clock = case.clocks["resolution"]
        require(
            now < aware(clock["due"]) and not clock["breached"],
            "an extension is asked for before the deadline",
            TransitionNotAllowed,
        )
        require(
            all(e["round"] != case.round for e in case.extensions),
            "one extension per round",
            TransitionNotAllowed,
        )
        request = {
            "round": case.round,
            "working_days": asked.working_days,
            "reason_code": asked.reason_code,
            "note": asked.note,
            "by": principal.actor,
            "at": now,
        }
        if not await records.store.update_pinned(
            case_id,
            status=case.status,
            version=case.version,
            set_fields={"extension_request": request},
        ):
            raise StaleCase(
                "the case was changed by someone else meanwhile; reload it and try again"
            )
        return await records.reload(case_id)

    async def decide(self, principal: Principal, case_id: str, approve: bool) -> Case:
        records = self._records
        require("supervisor" in actors_of(principal), "supervisors decide extensions", NotPermitted)
        case = await records.visible(principal, case_id)
        request = case.extension_request
        require(
            request.get("round") == case.round,
            "no extension is waiting for a decision",
            TransitionNotAllowed,
        )
        set_fields: Document = {"extension_request": None}
        append: Document = {}
        event: Document | None = None
        if approve:
            append, event = self._extend(principal, case, request, set_fields)
        if not await records.store.update_pinned(
            case_id,
            status=case.status,
            version=case.version,
            set_fields=set_fields,
            append=append,
            outbox=event,
        ):
            raise StaleCase("another supervisor decided first; reload the case")
        await records.flush(case_id)
        return await records.reload(case_id)

    def _extend(
        self, principal: Principal, case: Case, request: Document, set_fields: Document
    ) -> tuple[Document, Document]:
        """Move the resolution deadline (into ``set_fields``); the record to append and the
        event announcing it."""
        records = self._records
        calendar = records.calendar
        now = records.clock()
        clock = case.clocks["resolution"]
        require(
            now < aware(clock["due"]) and not clock["breached"],
            "the deadline has passed: an extension can no longer be approved",
            TransitionNotAllowed,
        )
        old_due = aware(clock["due"])
        new_due = calendar.working_days_after(old_due, request["working_days"])
        shift = calendar.business_seconds_between(old_due, new_due)
        set_fields["clocks.resolution.due"] = new_due
        set_fields["clocks.resolution.warn_at"] = calendar.add_business_seconds(
            aware(clock["warn_at"]), shift
        )
        set_fields["clocks.resolution.ops"] = [
            *clock.get("ops", []),
            {"extend": request["working_days"]},
        ]
        counted = provisional(calendar, aware(clock["started_at"]), new_due)
        for key, value in counted.items():
            set_fields[f"clocks.resolution.{key}"] = value
        record = {
            **request,
            "approved_by": principal.actor,
            "approved_at": now,
            "old_due": old_due,
            "new_due": new_due,
        }
        after = apply_fields(case, set_fields)
        set_fields["next_check"] = domain.next_check(calendar, after, now)
        set_fields["clock_years"] = records.clock_years_after(case, after)
        event = records.event(
            ev.CaseDeadlineExtended(
                case_id=case.id,
                driver_id=case.driver_id,
                clock="resolution",
                round=case.round,
                reason_code=request["reason_code"],
                working_days=request["working_days"],
                old_due=old_due,
                new_due=new_due,
                new_due_provisional=counted["provisional"],
                version=case.version + 1,
                extended_at=now,
            ),
            case,
            f"{case.id}:extended:r{case.round}",
        )
        return {"extensions": record}, event
