"""The state table in use: check a transition is allowed, run its step, write and announce it.

Each transition is one conditional update pinned to the status and version read; its event
goes into the document's outbox in the same update, under ``<case_id>:v<version>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from cases import domain
from cases.access import actors_of
from cases.case import Case
from cases.domain import ACTIVE, InvalidRequest, NotPermitted, StaleCase, TransitionNotAllowed
from cases.records import CaseRecords, apply_fields
from cases.state_table import STEPS
from cases.steps import ActionParams, Move, Rules, Step
from cases.store.dossiers import open_summary
from common.auth import Principal
from common.events import EventData
from common.events import cases as ev
from common.logging import get_logger

log = get_logger(__name__)

Document = dict[str, Any]


class Transitions:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records
        self._rules = Rules(records.calendar, records.policy, records.settings, records.store)

    async def act(
        self, principal: Principal, case_id: str, action: str, params: ActionParams
    ) -> Case:
        records = self._records
        transition = domain.TRANSITIONS.get(action)
        step_of = STEPS.get(action)
        if transition is None or step_of is None:
            raise InvalidRequest(f"unknown transition {action!r}")
        case = await records.visible(principal, case_id)
        status = case.status
        if status not in transition.sources:
            raise TransitionNotAllowed(
                f"{action!r} is not allowed from {status!r}; "
                f"it is allowed from {', '.join(sorted(transition.sources))}"
            )
        actors = actors_of(principal) & transition.actors
        # The care role acts for the drivers named to this broker only; seeing the case through
        # another role (a handler's unit, supervision) does not make the caller their broker.
        if "care" in actors and not await records.access.brokers(principal, case):
            actors.discard("care")
        if not actors:
            raise NotPermitted(f"{action!r} is for: {', '.join(sorted(transition.actors))}")
        now = records.clock()
        step = await step_of(Move(case, principal, frozenset(actors), params, now), self._rules)
        fields, after = self._fields(case, step, now)
        event = self._event(transition, case, after, params, now)
        entry = {
            "action": action,
            "from": status,
            "to": step.target,
            "by": principal.actor,
            "at": now,
            "reason_code": params.reason_code,
            "note": params.note,
        }
        opens = step.target in ACTIVE and status not in ACTIVE
        if opens:  # listed open before it is: a failed step leaves a candidate, not a gap
            summary = open_summary(case.category, case.opened_at, version=case.version + 1)
            await records.dossiers.case_open(case.driver_id, case_id, summary)
        applied = await records.store.transition(
            case_id,
            status=status,
            version=case.version,
            set_fields=fields,
            append={"history": entry, **step.append},
            outbox=event,
            add_units=step.add_units,
        )
        if not applied:
            if step.on_fail is not None:
                await step.on_fail()
            raise StaleCase(
                "the case was changed by someone else meanwhile; reload it and try again"
            )
        records.faults.hit("cases.act.before_flush")
        await records.flush(case_id)
        if status in ACTIVE and step.target not in ACTIVE:
            await self._unlist_open(case)
        for follow in step.after:
            await follow()
        return await records.reload(case_id)

    async def _unlist_open(self, case: Case) -> None:
        try:
            # Finished at the version this step wrote: a reopening since lists a later one.
            await self._records.dossiers.case_finished(case.driver_id, case.id, case.version + 1)
        except PyMongoError:
            # The step stands and is announced; the dossier merely offers the case as a
            # duplicate candidate until it is older than the lookback.
            log.warning("a finished case is still listed open in its dossier", case_id=case.id)

    def _fields(self, case: Case, step: Step, now: datetime) -> tuple[Document, Document]:
        """The step's fields with the status, the next scan and the counted years after it,
        and the case as it will be."""
        calendar = self._records.calendar
        fields = step.fields
        fields.setdefault("status", step.target)
        fields["next_check"] = None  # recomputed below from the state after the change
        after = apply_fields(case, fields)
        after["status"] = step.target
        fields["next_check"] = domain.next_check(calendar, after, now)
        fields["clock_years"] = self._records.clock_years_after(case, after)
        return fields, after

    def _event(
        self, t: domain.Transition, case: Case, after: Document, p: ActionParams, now: datetime
    ) -> Document:
        version = case.version + 1
        common = {"case_id": case.id, "driver_id": case.driver_id, "version": version}
        data: EventData
        if t.event == "assigned":
            data = ev.CaseAssigned(
                **common,
                transition=t.name,
                from_status=case.status,
                to_status=after["status"],
                unit_ids=after["offered_unit_ids"],
                lead_unit_id=after.get("lead_unit_id"),
                final=bool(after.get("final_assignment")),
                assigned_at=now,
            )
        elif t.event == "resolved":
            resolution = after["clocks"]["resolution"]
            data = ev.CaseResolved(
                **common,
                outcome=after["outcome"],
                unit_id=after.get("unit_id"),
                lead_unit_id=after.get("lead_unit_id"),
                round=after["round"],
                within_limit=not resolution["breached"],
                resolved_at=now,
            )
        elif t.event == "closed" or after["status"] == "closed":
            revisit = after.get("revisit") or {}
            data = ev.CaseClosed(
                **common,
                transition=t.name,
                from_status=case.status,
                satisfaction=revisit.get("satisfaction") if t.name == "revisit" else None,
                solved=revisit.get("solved") if t.name == "revisit" else None,
                exempt=bool(after.get("exempt")),
                round=after["round"],
                closed_at=now,
            )
        else:
            data = ev.CaseStatusChanged(
                **common,
                transition=t.name,
                from_status=case.status,
                to_status=after["status"],
                unit_id=after.get("unit_id"),
                lead_unit_id=after.get("lead_unit_id"),
                reason_code=p.reason_code,
                round=after["round"],
                changed_at=now,
            )
        return self._records.event(data, case, f"{case.id}:v{version}")
