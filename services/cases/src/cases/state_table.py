"""What each transition of the state table does, as one function per transition.

``domain.TRANSITIONS`` says from which statuses and by whom; a step here checks the rest
(reasons, units, windows) and decides the target status and the fields to set. ``STEPS``
maps every transition name to its step; ``Transitions.act`` writes the outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases import domain
from cases.domain import ACTIVE, NotPermitted, StaleCase, TransitionNotAllowed
from cases.records import aware, require
from cases.steps import ActionParams, Move, Rules, Step, StepFn

MAX_OFFERED_UNITS = 5
# A case returned this often is assigned by a supervisor only, and finally.
RETURNS_BEFORE_SUPERVISOR = 2

Document = dict[str, Any]


def _reason(p: ActionParams, allowed: tuple[str, ...]) -> None:
    require(p.reason_code in allowed, f"reason_code must be one of {', '.join(allowed)}")


def _own_or_broker(m: Move) -> None:
    if m.actors == {"driver"}:
        require(m.principal.driver_id == m.case.driver_id, "only the driver may", NotPermitted)


def _unit_member(m: Move, units: list[str | None]) -> None:
    require(
        m.principal.unit_id is not None and m.principal.unit_id in units,
        "only a member of the handling unit may do this",
        NotPermitted,
    )


def _at(moment: datetime | None, name: str) -> datetime:
    if moment is None:  # the state table sets it on the way into this status
        raise domain.InvalidRequest(f"the case has no {name}")
    return aware(moment)


async def dispatch(m: Move, r: Rules) -> Step:
    final = m.case.needs_supervisor
    if final:
        require(
            "supervisor" in m.actors,
            "returned twice: only a supervisor assigns this case (finally)",
            NotPermitted,
        )
    units = list(dict.fromkeys(m.params.unit_ids))
    require(
        1 <= len(units) <= MAX_OFFERED_UNITS,
        f"offer the case to between 1 and {MAX_OFFERED_UNITS} units",
    )
    require(not final or len(units) == 1, "a final assignment names one unit")
    fields = {"offered_unit_ids": units, "assigned_at": m.now, "final_assignment": final}
    return Step("assigned", fields, add_units=units)


async def reject(m: Move, r: Rules) -> Step:
    _reason(m.params, domain.REJECT_REASONS)
    names = ("acceptance", "first_response", "progress", "resolution")
    fields = domain.meet(m.case.clocks, names, m.now)
    return Step("rejected", {**fields, "rejected_at": m.now})


async def object_(m: Move, r: Rules) -> Step:
    _own_or_broker(m)
    rejected_at = _at(m.case.rejected_at, "rejected_at")
    require(
        domain.within(m.now, rejected_at, r.settings.objection_window_days),
        "the time to object to the rejection has passed",
    )
    return Step("objected", {"objected_at": m.now})


async def uphold_objection(m: Move, r: Rules) -> Step:
    # The rejection is overturned: its answer no longer counts, the intake clocks run on.
    fields: Document = {}
    for name in ("acceptance", "progress", "resolution"):
        if not m.case.clocks[name]["breached"]:
            fields[f"clocks.{name}.met_at"] = None
    return Step("received", fields)


async def dismiss_objection(m: Move, r: Rules) -> Step:
    return Step("closed", {"closed_at": m.now})


async def accept(m: Move, r: Rules) -> Step:
    _unit_member(m, [*m.case.offered_unit_ids])
    fields = domain.meet(m.case.clocks, ("acceptance",), m.now)
    fields.update(
        {
            "unit_id": m.principal.unit_id,
            "lead_unit_id": m.case.lead_unit_id or m.principal.unit_id,
            "handler_sub": m.principal.actor,
            "accepted_at": m.now,
            "offered_unit_ids": [],
        }
    )
    return Step("in_progress", fields)


async def return_(m: Move, r: Rules) -> Step:
    case, settings = m.case, r.settings
    _unit_member(m, [*case.offered_unit_ids])
    _reason(m.params, domain.RETURN_REASONS)
    require(
        not case.final_assignment,
        "a supervisor's final assignment cannot be returned",
        TransitionNotAllowed,
    )
    require(
        domain.return_window_open(
            r.calendar, _at(case.assigned_at, "assigned_at"), m.now, settings.return_window_hours
        ),
        f"a case may be returned only within {settings.return_window_hours:g} office "
        "hours of its assignment",
        TransitionNotAllowed,
    )
    if case.lead_unit_id:
        # A transferred case goes back to the lead unit, which stays responsible.
        return Step("in_progress", {"unit_id": case.lead_unit_id, "offered_unit_ids": []})
    returns = case.returns + 1
    fields = {
        "returns": returns,
        "needs_supervisor": returns >= RETURNS_BEFORE_SUPERVISOR,
        "offered_unit_ids": [],
    }
    return Step("received", fields)


async def transfer(m: Move, r: Rules) -> Step:
    if "supervisor" not in m.actors:
        _unit_member(m, [m.case.lead_unit_id])
    units = list(dict.fromkeys(m.params.unit_ids))
    require(len(units) == 1, "transfer to exactly one unit")
    require(units[0] != m.case.unit_id, "the case is already with that unit")
    fields = {"offered_unit_ids": units, "assigned_at": m.now, "final_assignment": False}
    return Step("assigned", fields, add_units=units)


async def feedback(m: Move, r: Rules) -> Step:
    _unit_member(m, [m.case.unit_id])
    require(bool(m.params.note), "feedback needs a note for the driver")
    fields = domain.meet(m.case.clocks, ("first_response",), m.now)
    restart, finished = domain.restart_progress(r.calendar, r.policy, m.case.clocks, m.now)
    append: Document = {"progress_periods": finished} if finished else {}
    return Step("in_progress", {**fields, **restart}, append=append)


async def request_info(m: Move, r: Rules) -> Step:
    _unit_member(m, [m.case.unit_id])
    require(bool(m.params.note), "say what the driver should provide")
    fields = domain.meet(m.case.clocks, ("first_response",), m.now)
    return Step("awaiting_driver", {**fields, "paused_at": m.now})


def _resume_fields(m: Move, r: Rules) -> Document:
    fields, paused = domain.shift_after_pause(
        r.calendar, m.case.clocks, _at(m.case.paused_at, "paused_at"), m.now
    )
    fields["paused_at"] = None
    fields["paused_seconds"] = m.case.paused_seconds + paused
    return fields


async def driver_replied(m: Move, r: Rules) -> Step:
    if m.actors == {"handler"}:
        _unit_member(m, [m.case.unit_id])
    _own_or_broker(m)
    return Step("in_progress", _resume_fields(m, r))


async def suspend(m: Move, r: Rules) -> Step:
    _reason(m.params, domain.SUSPEND_REASONS)
    return Step("suspended", {"paused_at": m.now})


async def resume(m: Move, r: Rules) -> Step:
    if "supervisor" not in m.actors:
        _unit_member(m, [m.case.unit_id])
    return Step("in_progress", _resume_fields(m, r))


async def resolve(m: Move, r: Rules) -> Step:
    p = m.params
    _unit_member(m, [m.case.unit_id])
    require(p.outcome in domain.OUTCOMES, f"outcome must be one of {', '.join(domain.OUTCOMES)}")
    require(bool(p.note), "the answer to the driver is required")
    fields = domain.meet(m.case.clocks, ("first_response", "progress", "resolution"), m.now)
    fields.update(
        {
            "resolved_at": m.now,
            "outcome": p.outcome,
            "resolved_by": m.principal.actor,
            "resolved_unit_id": m.principal.unit_id,
            "clocks.revisit": domain.new_clock(r.calendar, m.now, r.policy.revisit),
        }
    )
    return Step("resolved", fields)


async def revisit(m: Move, r: Rules) -> Step:
    case, principal, p = m.case, m.principal, m.params
    require(
        principal.actor not in {case.resolved_by, case.handler_sub},
        "the revisit is made by someone other than the handler",
        NotPermitted,
    )
    require(
        principal.unit_id is None or principal.unit_id != case.unit_id,
        "the revisit is made outside the handling unit",
        NotPermitted,
    )
    require(p.satisfaction in domain.SATISFACTION, "satisfaction is required")
    require(p.solved in domain.SOLVED, "solved is required")
    record = {
        "round": case.round,
        "satisfaction": p.satisfaction,
        "solved": p.solved,
        "by": principal.actor,
        "at": m.now,
    }
    fields = domain.meet(case.clocks, ("revisit",), m.now)
    fields["revisit"] = record
    target = "review" if p.satisfaction == "not_satisfied" else "closed"
    if target == "closed":
        fields["closed_at"] = m.now
    return Step(target, fields, append={"revisits": record})


def _new_round(m: Move, r: Rules) -> Document:
    case, policy = m.case, r.policy
    limit = policy.emergency_resolution if case.emergency else policy.resolution[case.kind]
    require(bool(case.lead_unit_id), "the case has no lead unit to take it up again")
    return {
        "round": case.round + 1,
        "unit_id": case.lead_unit_id,
        "clocks.progress": domain.new_clock(r.calendar, m.now, policy.progress),
        "clocks.resolution": domain.new_clock(r.calendar, m.now, limit),
        "clocks.revisit": None,
        "revisit": None,
        "closed_at": None,
        "exemption_proposed_by": None,
    }


async def order_second_round(m: Move, r: Rules) -> Step:
    return Step("in_progress", _new_round(m, r))


async def propose_exemption(m: Move, r: Rules) -> Step:
    require(bool(m.params.note), "say why the case should be exempted")
    return Step("exemption_proposed", {"exemption_proposed_by": m.principal.actor})


async def confirm_exemption(m: Move, r: Rules) -> Step:
    require(
        m.principal.actor != m.case.exemption_proposed_by,
        "an exemption needs a second supervisor",
        NotPermitted,
    )
    return Step("closed", {"exempt": True, "exempted_by": m.principal.actor, "closed_at": m.now})


async def reopen(m: Move, r: Rules) -> Step:
    _own_or_broker(m)
    require(m.case.resolved_at is not None, "only a resolved case can be reopened")
    window = r.settings.reopen_window_days
    require(
        domain.within(m.now, _at(m.case.closed_at, "closed_at"), window),
        f"a case can be reopened within {window:g} days of closing",
        TransitionNotAllowed,
    )
    return Step("in_progress", {**_new_round(m, r), "exempt": False})


async def withdraw(m: Move, r: Rules) -> Step:
    _own_or_broker(m)
    return Step("withdrawn", {"withdrawn_at": m.now})


async def merge(m: Move, r: Rules) -> Step:
    case = m.case
    target_id = m.params.target_case_id
    if not target_id or target_id == case.id:
        raise domain.InvalidRequest("name another case to merge into")
    target = await r.store.get(target_id)
    if target is None:
        raise domain.InvalidRequest("the case to merge into does not exist")
    require(
        target.driver_id == case.driver_id,
        "only one driver's cases merge; link collective complaints",
    )
    require(target.status in ACTIVE, "merge only into an open case")
    # Claim the target first (pinned to its version): of two cases merging into each other
    # at once, at least one claim or one merge finds a changed version, so no cycle forms.
    if not await r.store.claim_merge_target(target_id, version=target.version, absorbed_id=case.id):
        raise StaleCase("the case to merge into changed meanwhile; try again")

    async def release() -> None:
        await r.store.release_merge_target(target_id, case.id)

    fields = {"merged_into": target_id, "merged_at": m.now, "previous_status": case.status}
    return Step("merged", fields, on_fail=release)


async def unmerge(m: Move, r: Rules) -> Step:
    case, window = m.case, r.settings.unmerge_window_days
    require(
        domain.within(m.now, _at(case.merged_at, "merged_at"), window),
        f"a merge can be undone within {window:g} days",
        TransitionNotAllowed,
    )
    target_id = case.merged_into

    async def release() -> None:
        if target_id is not None:
            await r.store.release_merge_target(target_id, case.id)

    require(case.previous_status is not None, "the case does not say what it was before")
    fields = {"merged_into": None, "previous_status": None}
    return Step(str(case.previous_status), fields, after=[release])


STEPS: dict[str, StepFn] = {
    "dispatch": dispatch,
    "reject": reject,
    "object": object_,
    "uphold_objection": uphold_objection,
    "dismiss_objection": dismiss_objection,
    "accept": accept,
    "return": return_,
    "transfer": transfer,
    "feedback": feedback,
    "request_info": request_info,
    "driver_replied": driver_replied,
    "suspend": suspend,
    "resume": resume,
    "resolve": resolve,
    "revisit": revisit,
    "order_second_round": order_second_round,
    "propose_exemption": propose_exemption,
    "confirm_exemption": confirm_exemption,
    "reopen": reopen,
    "withdraw": withdraw,
    "merge": merge,
    "unmerge": unmerge,
}
