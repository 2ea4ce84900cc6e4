"""Use cases of the cases service: open, act on (the state table), extend, scan, report.

Each change of a case is one conditional update of its document (status and version in the
filter) carrying its event in the document's ``outbox``; the relay publishes it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cases import domain
from cases.calendar import BusinessCalendar, provisional
from cases.clock_replay import clock_years
from cases.domain import (
    ACTIVE,
    CaseError,
    CaseNotFound,
    ClockPolicy,
    InvalidRequest,
    NotPermitted,
    StaleCase,
    TransitionNotAllowed,
)
from cases.metrics import CASE_WORK_FAILURES
from cases.settings import CasesSettings
from cases.store.cases import CaseStore
from cases.store.dossiers import DossierStore
from common.auth import Principal
from common.events import EventData, new_event
from common.events import cases as ev
from common.faults import Faults
from common.logging import describe_error, get_logger
from common.outbox import OutboxRelay, outbox_entry

log = get_logger(__name__)

Document = dict[str, Any]
Clock = Callable[[], datetime]
# What a step of the state table decides: target status, ``$set`` fields, extra update parts.
Step = tuple[str, Document, Document]
TOPIC = "cases.events"
EVENT_SOURCE = "driverhome/cases"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Intake:
    kind: str
    category: str
    channel: str
    description: str
    driver_id: str
    priority: str = "normal"
    emergency: bool = False
    attachments: list[Document] = field(default_factory=list)
    respondent: Document | None = None
    identity_consent: bool = False


@dataclass
class ActionParams:
    reason_code: str | None = None
    note: str | None = None
    unit_ids: list[str] = field(default_factory=list)
    outcome: str | None = None
    satisfaction: str | None = None
    solved: str | None = None
    target_case_id: str | None = None


def actors_of(principal: Principal) -> set[str]:
    if principal.role == "driver":
        return {"driver"}
    if principal.role == "station":
        return {"station"}
    if principal.role == "operator":
        return {actor for scope, actor in domain.SCOPES.items() if principal.has_scope(scope)}
    return set()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CasesService:
    def __init__(
        self,
        cases: CaseStore,
        dossiers: DossierStore,
        calendar: BusinessCalendar,
        settings: CasesSettings,
        *,
        policy: ClockPolicy | None = None,
        faults: Faults | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.cases = cases
        self.dossiers = dossiers
        self.calendar = calendar
        self.settings = settings
        self.policy = policy or ClockPolicy()
        self.faults = faults or Faults()
        self.clock = clock
        self.relay: OutboxRelay | None = None

    # ---- access ------------------------------------------------------------------------------

    async def may_see(self, principal: Principal, case: Document) -> bool:
        if principal.role == "driver":
            return principal.driver_id is not None and case["driver_id"] == principal.driver_id
        if principal.role == "station":
            return (
                principal.station_id is not None and case.get("station_id") == principal.station_id
            )
        if principal.role == "partner":
            respondent = case.get("respondent") or {}
            return (
                principal.has_scope("cases:respond")
                and principal.partner_id is not None
                and respondent.get("id") == principal.partner_id
            )
        actors = actors_of(principal)
        if actors & {"supervisor", "dispatcher", "revisit"}:
            return True
        if "handler" in actors and principal.unit_id in case.get("unit_ids", []):
            return True
        if "care" in actors:
            dossier = await self.dossiers.get(case["driver_id"])
            if dossier is not None and dossier.get("broker_id") == principal.sub:
                return True
        # Operators without a narrower case role (district staff) read everything.
        return not actors

    async def get(self, principal: Principal, case_id: str) -> Document:
        case = await self.cases.get(case_id)
        if case is None or not await self.may_see(principal, case):
            raise CaseNotFound("no such case")
        return case

    def list_query(self, principal: Principal) -> Document:
        """The cases a caller may list (a coarse filter; ``may_see`` decides for one case)."""
        if principal.role == "driver":
            return {"driver_id": principal.driver_id or "\x00"}
        if principal.role == "station":
            return {"station_id": principal.station_id or "\x00"}
        if principal.role == "partner":
            if not principal.has_scope("cases:respond"):
                return {"_id": "\x00"}
            return {"respondent.id": principal.partner_id or "\x00"}
        actors = actors_of(principal)
        if actors & {"supervisor", "dispatcher", "revisit"} or not actors:
            return {}
        if "handler" in actors and principal.unit_id is not None:
            return {"unit_ids": principal.unit_id}
        return {"_id": "\x00"}

    # ---- intake ------------------------------------------------------------------------------

    async def open_case(self, principal: Principal, intake: Intake) -> tuple[Document, list[str]]:
        now = self.clock()
        channel, station_id = self._intake_channel(principal, intake)
        if intake.kind not in domain.KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(domain.KINDS)}")
        if intake.category not in domain.CATEGORIES:
            raise InvalidRequest("unknown category; see GET /v1/categories")
        self._check_attachments(intake.attachments)
        clocks = domain.intake_clocks(
            self.calendar, self.policy, now, intake.kind, intake.emergency
        )
        local = self.calendar.local(now)
        case_id = f"C{local:%Y%m%d}-{uuid.uuid4().hex[:10]}"
        case: Document = {
            "_id": case_id,
            "version": 1,
            "status": "received",
            "kind": intake.kind,
            "category": intake.category,
            "channel": channel,
            "description": intake.description,
            "attachments": intake.attachments,
            "respondent": intake.respondent,
            "identity_consent": intake.identity_consent,
            "priority": "urgent" if intake.emergency else intake.priority,
            "emergency": intake.emergency,
            "driver_id": intake.driver_id,
            "station_id": station_id,
            "opened_by": principal.sub,
            "opened_at": now,
            "month": f"{local:%Y-%m}",
            "round": 1,
            "offered_unit_ids": [],
            "unit_ids": [],
            "unit_id": None,
            "lead_unit_id": None,
            "returns": 0,
            "needs_supervisor": False,
            "final_assignment": False,
            "clocks": clocks,
            # Which years' holidays the clocks were counted with (cases.calendars recounts).
            "clock_years": clock_years(self.calendar, clocks),
            "announced": [],
            "history": [{"action": "open", "to": "received", "by": principal.sub, "at": now}],
            "extensions": [],
            "revisits": [],
            "compensations": [],
            "compensations_applied": [],
            "absorbed": [],
            "collective_id": None,
        }
        event = self._event(
            ev.CaseOpened(
                case_id=case_id,
                driver_id=intake.driver_id,
                kind=intake.kind,
                category=intake.category,
                channel=channel,
                priority=case["priority"],
                emergency=intake.emergency,
                station_id=station_id,
                opened_at=now,
                resolution_due=clocks["resolution"]["due"],
                resolution_due_provisional=clocks["resolution"]["provisional"],
            ),
            case,
            f"{case_id}:opened",
        )
        case["calendar_keys"] = self.calendar.keys(case["clock_years"])
        case["outbox"] = [event]
        case["next_check"] = domain.next_check(self.calendar, case, now)
        duplicates = await self._duplicate_candidates(case)
        await self.cases.insert(case)
        await self.dossiers.open(intake.driver_id, now)
        await self._flush(case_id)
        case.pop("outbox")
        return case, duplicates

    def _intake_channel(self, principal: Principal, intake: Intake) -> tuple[str, str | None]:
        if principal.role == "driver":
            if principal.driver_id != intake.driver_id:
                raise NotPermitted("drivers open cases for themselves")
            return "app", None
        if principal.role == "station":
            if principal.station_id is None:
                raise NotPermitted("a station token without station_id")
            return "station", principal.station_id
        if principal.role == "partner":
            if not principal.has_scope("cases:open"):
                raise NotPermitted("this partner may not open cases")
            return "partner", None
        if principal.role == "operator" and actors_of(principal) & {
            "dispatcher",
            "care",
            "supervisor",
        }:
            return intake.channel if intake.channel in ("hotline", "app") else "hotline", None
        raise NotPermitted("only drivers, stations, dispatchers and care brokers open cases")

    def _check_attachments(self, attachments: list[Document]) -> None:
        if len(attachments) > self.settings.attachments_max:
            raise InvalidRequest(f"at most {self.settings.attachments_max} attachments")
        for item in attachments:
            if item["content_type"] not in domain.ATTACHMENT_TYPES:
                raise InvalidRequest(
                    f"attachment type must be one of {', '.join(sorted(domain.ATTACHMENT_TYPES))}"
                )
            if item["size_bytes"] > self.settings.attachment_max_bytes:
                raise InvalidRequest(
                    f"an attachment may hold at most {self.settings.attachment_max_bytes} bytes"
                )

    async def _duplicate_candidates(self, case: Document) -> list[str]:
        since = case["opened_at"] - timedelta(days=self.settings.duplicate_lookback_days)
        query: Document = {
            "driver_id": case["driver_id"],
            "category": case["category"],
            "status": {"$in": sorted(ACTIVE)},
            "opened_at": {"$gte": since},
        }
        return [doc["_id"] for doc in await self.cases.find(query, limit=10)]

    # ---- the state table ---------------------------------------------------------------------

    async def act(
        self, principal: Principal, case_id: str, action: str, params: ActionParams
    ) -> Document:
        transition = domain.TRANSITIONS.get(action)
        if transition is None:
            raise InvalidRequest(f"unknown transition {action!r}")
        case = await self.get(principal, case_id)
        status = case["status"]
        if status not in transition.sources:
            raise TransitionNotAllowed(
                f"{action!r} is not allowed from {status!r}; "
                f"it is allowed from {', '.join(sorted(transition.sources))}"
            )
        actors = actors_of(principal) & transition.actors
        if not actors:
            raise NotPermitted(f"{action!r} is for: {', '.join(sorted(transition.actors))}")
        now = self.clock()
        step = getattr(self, f"_{action}")
        target, fields, extra = await step(case, principal, actors, params, now)
        fields.setdefault("status", target)
        fields["next_check"] = None  # recomputed below from the state after the change
        after = _apply(case, fields)
        after["status"] = target
        fields["next_check"] = domain.next_check(self.calendar, after, now)
        fields["clock_years"] = sorted(
            set(case.get("clock_years", [])) | set(clock_years(self.calendar, after["clocks"]))
        )
        event = self._transition_event(transition, case, after, params, now)
        entry = {
            "action": action,
            "from": status,
            "to": target,
            "by": principal.sub,
            "at": now,
            "reason_code": params.reason_code,
            "note": params.note,
        }
        applied = await self.cases.transition(
            case_id,
            status=status,
            version=case["version"],
            set_fields=fields,
            push={"history": entry, "outbox": event, **extra.get("push", {})},
            add_to_set=extra.get("add_to_set"),
            pull=extra.get("pull"),
        )
        if not applied:
            if "on_fail" in extra:
                await extra["on_fail"]()
            raise StaleCase(
                "the case was changed by someone else meanwhile; reload it and try again"
            )
        self.faults.hit("cases.act.before_flush")
        await self._flush(case_id)
        for follow in extra.get("after", []):
            await follow()
        fresh = await self.cases.get(case_id)
        assert fresh is not None
        return fresh

    def _require(self, ok: bool, message: str, error: type[CaseError] = InvalidRequest) -> None:
        if not ok:
            raise error(message)

    def _reason(self, params: ActionParams, allowed: tuple[str, ...]) -> str:
        self._require(
            params.reason_code in allowed, f"reason_code must be one of {', '.join(allowed)}"
        )
        assert params.reason_code is not None
        return params.reason_code

    def _own_or_broker(self, case: Document, principal: Principal, actors: set[str]) -> None:
        if actors == {"driver"}:
            self._require(
                principal.driver_id == case["driver_id"], "only the driver may", NotPermitted
            )

    def _unit_member(self, case: Document, principal: Principal, units: list[str]) -> None:
        self._require(
            principal.unit_id is not None and principal.unit_id in units,
            "only a member of the handling unit may do this",
            NotPermitted,
        )

    async def _dispatch(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        final = bool(case["needs_supervisor"])
        if final:
            self._require(
                "supervisor" in actors,
                "returned twice: only a supervisor assigns this case (finally)",
                NotPermitted,
            )
        units = list(dict.fromkeys(p.unit_ids))
        self._require(1 <= len(units) <= 5, "offer the case to between 1 and 5 units")
        self._require(not final or len(units) == 1, "a final assignment names one unit")
        return (
            "assigned",
            {"offered_unit_ids": units, "assigned_at": now, "final_assignment": final},
            {"add_to_set": {"unit_ids": {"$each": units}}},
        )

    async def _reject(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._reason(p, domain.REJECT_REASONS)
        fields = domain.meet(
            case["clocks"], ("acceptance", "first_response", "progress", "resolution"), now
        )
        return "rejected", {**fields, "rejected_at": now}, {}

    async def _object(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._own_or_broker(case, principal, actors)
        self._require(
            domain.within(now, case["rejected_at"], self.settings.objection_window_days),
            "the time to object to the rejection has passed",
        )
        return "objected", {"objected_at": now}, {}

    async def _uphold_objection(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        # The rejection is overturned: its answer no longer counts, the intake clocks run on.
        fields: Document = {}
        for name in ("acceptance", "progress", "resolution"):
            clock = case["clocks"][name]
            if not clock["breached"]:
                fields[f"clocks.{name}.met_at"] = None
        return "received", fields, {}

    async def _dismiss_objection(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        return "closed", {"closed_at": now}, {}

    async def _accept(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._unit_member(case, principal, case["offered_unit_ids"])
        fields = domain.meet(case["clocks"], ("acceptance",), now)
        fields.update(
            {
                "unit_id": principal.unit_id,
                "lead_unit_id": case["lead_unit_id"] or principal.unit_id,
                "handler_sub": principal.sub,
                "accepted_at": now,
                "offered_unit_ids": [],
            }
        )
        return "in_progress", fields, {}

    async def _return(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._unit_member(case, principal, case["offered_unit_ids"])
        self._reason(p, domain.RETURN_REASONS)
        self._require(
            not case["final_assignment"],
            "a supervisor's final assignment cannot be returned",
            TransitionNotAllowed,
        )
        self._require(
            domain.return_window_open(
                self.calendar, _aware(case["assigned_at"]), now, self.settings.return_window_hours
            ),
            f"a case may be returned only within {self.settings.return_window_hours:g} office "
            "hours of its assignment",
            TransitionNotAllowed,
        )
        if case["lead_unit_id"]:
            # A transferred case goes back to the lead unit, which stays responsible.
            return "in_progress", {"unit_id": case["lead_unit_id"], "offered_unit_ids": []}, {}
        returns = case["returns"] + 1
        return (
            "received",
            {"returns": returns, "needs_supervisor": returns >= 2, "offered_unit_ids": []},
            {},
        )

    async def _transfer(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        if "supervisor" not in actors:
            self._unit_member(case, principal, [case["lead_unit_id"]])
        units = list(dict.fromkeys(p.unit_ids))
        self._require(len(units) == 1, "transfer to exactly one unit")
        self._require(units[0] != case["unit_id"], "the case is already with that unit")
        return (
            "assigned",
            {"offered_unit_ids": units, "assigned_at": now, "final_assignment": False},
            {"add_to_set": {"unit_ids": {"$each": units}}},
        )

    async def _feedback(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._unit_member(case, principal, [case["unit_id"]])
        self._require(bool(p.note), "feedback needs a note for the driver")
        fields = domain.meet(case["clocks"], ("first_response",), now)
        restart, finished = domain.restart_progress(self.calendar, self.policy, case["clocks"], now)
        extra: Document = {"push": {"progress_periods": finished}} if finished else {}
        return "in_progress", {**fields, **restart}, extra

    async def _request_info(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._unit_member(case, principal, [case["unit_id"]])
        self._require(bool(p.note), "say what the driver should provide")
        fields = domain.meet(case["clocks"], ("first_response",), now)
        return "awaiting_driver", {**fields, "paused_at": now}, {}

    async def _resume_fields(self, case: Document, now: datetime) -> Document:
        fields, paused = domain.shift_after_pause(
            self.calendar, case["clocks"], _aware(case["paused_at"]), now
        )
        fields["paused_at"] = None
        fields["paused_seconds"] = case.get("paused_seconds", 0.0) + paused
        return fields

    async def _driver_replied(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        if actors == {"handler"}:
            self._unit_member(case, principal, [case["unit_id"]])
        self._own_or_broker(case, principal, actors)
        return "in_progress", await self._resume_fields(case, now), {}

    async def _suspend(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._reason(p, domain.SUSPEND_REASONS)
        return "suspended", {"paused_at": now}, {}

    async def _resume(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        if "supervisor" not in actors:
            self._unit_member(case, principal, [case["unit_id"]])
        return "in_progress", await self._resume_fields(case, now), {}

    async def _resolve(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._unit_member(case, principal, [case["unit_id"]])
        self._require(
            p.outcome in domain.OUTCOMES, f"outcome must be one of {', '.join(domain.OUTCOMES)}"
        )
        self._require(bool(p.note), "the answer to the driver is required")
        fields = domain.meet(case["clocks"], ("first_response", "progress", "resolution"), now)
        fields.update(
            {
                "resolved_at": now,
                "outcome": p.outcome,
                "resolved_by": principal.sub,
                "resolved_unit_id": principal.unit_id,
                "clocks.revisit": domain.new_clock(self.calendar, now, self.policy.revisit),
            }
        )
        return "resolved", fields, {}

    async def _revisit(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._require(
            principal.sub != case.get("resolved_by") and principal.sub != case.get("handler_sub"),
            "the revisit is made by someone other than the handler",
            NotPermitted,
        )
        self._require(
            principal.unit_id is None or principal.unit_id != case.get("unit_id"),
            "the revisit is made outside the handling unit",
            NotPermitted,
        )
        self._require(p.satisfaction in domain.SATISFACTION, "satisfaction is required")
        self._require(p.solved in domain.SOLVED, "solved is required")
        record = {
            "round": case["round"],
            "satisfaction": p.satisfaction,
            "solved": p.solved,
            "by": principal.sub,
            "at": now,
        }
        fields = domain.meet(case["clocks"], ("revisit",), now)
        fields["revisit"] = record
        target = "review" if p.satisfaction == "not_satisfied" else "closed"
        if target == "closed":
            fields["closed_at"] = now
        return target, fields, {"push": {"revisits": record}}

    def _new_round(self, case: Document, now: datetime) -> Document:
        limit = (
            self.policy.emergency_resolution
            if case["emergency"]
            else self.policy.resolution[case["kind"]]
        )
        self._require(bool(case["lead_unit_id"]), "the case has no lead unit to take it up again")
        return {
            "round": case["round"] + 1,
            "unit_id": case["lead_unit_id"],
            "clocks.progress": domain.new_clock(self.calendar, now, self.policy.progress),
            "clocks.resolution": domain.new_clock(self.calendar, now, limit),
            "clocks.revisit": None,
            "revisit": None,
            "closed_at": None,
            "exemption_proposed_by": None,
        }

    async def _order_second_round(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        return "in_progress", self._new_round(case, now), {}

    async def _propose_exemption(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._require(bool(p.note), "say why the case should be exempted")
        return "exemption_proposed", {"exemption_proposed_by": principal.sub}, {}

    async def _confirm_exemption(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._require(
            principal.sub != case.get("exemption_proposed_by"),
            "an exemption needs a second supervisor",
            NotPermitted,
        )
        return "closed", {"exempt": True, "exempted_by": principal.sub, "closed_at": now}, {}

    async def _reopen(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._own_or_broker(case, principal, actors)
        self._require(case.get("resolved_at") is not None, "only a resolved case can be reopened")
        self._require(
            domain.within(now, case["closed_at"], self.settings.reopen_window_days),
            f"a case can be reopened within {self.settings.reopen_window_days:g} days of closing",
            TransitionNotAllowed,
        )
        return "in_progress", {**self._new_round(case, now), "exempt": False}, {}

    async def _withdraw(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._own_or_broker(case, principal, actors)
        return "withdrawn", {"withdrawn_at": now}, {}

    async def _merge(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        target_id = p.target_case_id
        self._require(
            bool(target_id) and target_id != case["_id"], "name another case to merge into"
        )
        assert target_id is not None
        target = await self.cases.get(target_id)
        self._require(target is not None, "the case to merge into does not exist")
        assert target is not None
        self._require(
            target["driver_id"] == case["driver_id"],
            "only one driver's cases merge; link collective complaints",
        )
        self._require(target["status"] in ACTIVE, "merge only into an open case")
        # Claim the target first (pinned to its version): of two cases merging into each other
        # at once, at least one claim or one merge finds a changed version, so no cycle forms.
        claimed = await self.cases.collection.update_one(
            {"_id": target_id, "version": target["version"], "status": {"$in": sorted(ACTIVE)}},
            {"$addToSet": {"absorbed": case["_id"]}, "$inc": {"version": 1}},
        )
        if claimed.modified_count != 1:
            raise StaleCase("the case to merge into changed meanwhile; try again")

        async def release() -> None:
            await self.cases.collection.update_one(
                {"_id": target_id}, {"$pull": {"absorbed": case["_id"]}}
            )

        return (
            "merged",
            {"merged_into": target_id, "merged_at": now, "previous_status": case["status"]},
            {"on_fail": release},
        )

    async def _unmerge(
        self, case: Document, principal: Principal, actors: set[str], p: ActionParams, now: datetime
    ) -> Step:
        self._require(
            domain.within(now, case["merged_at"], self.settings.unmerge_window_days),
            f"a merge can be undone within {self.settings.unmerge_window_days:g} days",
            TransitionNotAllowed,
        )
        target_id = case["merged_into"]

        async def release() -> None:
            await self.cases.collection.update_one(
                {"_id": target_id}, {"$pull": {"absorbed": case["_id"]}}
            )

        return (
            case["previous_status"],
            {"merged_into": None, "previous_status": None},
            {"after": [release]},
        )

    # ---- extensions, consent, compensation ----------------------------------------------------

    async def request_extension(
        self, principal: Principal, case_id: str, working_days: int, reason_code: str, note: str
    ) -> Document:
        case = await self.get(principal, case_id)
        self._require(
            "handler" in actors_of(principal), "handlers ask for extensions", NotPermitted
        )
        self._unit_member(case, principal, [case["unit_id"]])
        self._require(
            case["status"] in ACTIVE - {"received", "assigned"},
            "only a case in hand can be extended",
            TransitionNotAllowed,
        )
        self._require(
            reason_code in domain.EXTENSION_REASONS,
            f"reason_code must be one of {', '.join(domain.EXTENSION_REASONS)}",
        )
        self._require(
            1 <= working_days <= self.settings.max_extension_working_days,
            f"extend by 1 to {self.settings.max_extension_working_days} working days",
        )
        now = self.clock()
        clock = case["clocks"]["resolution"]
        self._require(
            now < _aware(clock["due"]) and not clock["breached"],
            "an extension is asked for before the deadline",
            TransitionNotAllowed,
        )
        self._require(
            all(e["round"] != case["round"] for e in case["extensions"]),
            "one extension per round",
            TransitionNotAllowed,
        )
        request = {
            "round": case["round"],
            "working_days": working_days,
            "reason_code": reason_code,
            "note": note,
            "by": principal.sub,
            "at": now,
        }
        applied = await self.cases.collection.update_one(
            {"_id": case_id, "status": case["status"], "version": case["version"]},
            {"$set": {"extension_request": request}, "$inc": {"version": 1}},
        )
        if applied.modified_count != 1:
            raise StaleCase(
                "the case was changed by someone else meanwhile; reload it and try again"
            )
        return await self._reload(case_id)

    async def decide_extension(self, principal: Principal, case_id: str, approve: bool) -> Document:
        self._require(
            "supervisor" in actors_of(principal), "supervisors decide extensions", NotPermitted
        )
        case = await self.get(principal, case_id)
        request: Document = case.get("extension_request") or {}
        self._require(
            request.get("round") == case["round"],
            "no extension is waiting for a decision",
            TransitionNotAllowed,
        )
        now = self.clock()
        clock = case["clocks"]["resolution"]
        set_fields: Document = {"extension_request": None}
        push: Document = {}
        if approve:
            self._require(
                now < _aware(clock["due"]) and not clock["breached"],
                "the deadline has passed: an extension can no longer be approved",
                TransitionNotAllowed,
            )
            old_due = _aware(clock["due"])
            new_due = self.calendar.working_days_after(old_due, request["working_days"])
            shift = self.calendar.business_seconds_between(old_due, new_due)
            set_fields["clocks.resolution.due"] = new_due
            set_fields["clocks.resolution.warn_at"] = self.calendar.add_business_seconds(
                _aware(clock["warn_at"]), shift
            )
            set_fields["clocks.resolution.ops"] = [
                *clock.get("ops", []),
                {"extend": request["working_days"]},
            ]
            counted = provisional(self.calendar, _aware(clock["started_at"]), new_due)
            for key, value in counted.items():
                set_fields[f"clocks.resolution.{key}"] = value
            record = {
                **request,
                "approved_by": principal.sub,
                "approved_at": now,
                "old_due": old_due,
                "new_due": new_due,
            }
            after = _apply(case, set_fields)
            set_fields["next_check"] = domain.next_check(self.calendar, after, now)
            set_fields["clock_years"] = sorted(
                set(case.get("clock_years", [])) | set(clock_years(self.calendar, after["clocks"]))
            )
            event = self._event(
                ev.CaseDeadlineExtended(
                    case_id=case_id,
                    driver_id=case["driver_id"],
                    clock="resolution",
                    round=case["round"],
                    reason_code=request["reason_code"],
                    working_days=request["working_days"],
                    old_due=old_due,
                    new_due=new_due,
                    new_due_provisional=counted["provisional"],
                    version=case["version"] + 1,
                    extended_at=now,
                ),
                case,
                f"{case_id}:extended:r{case['round']}",
            )
            push = {"extensions": record, "outbox": event}
        update: Document = {"$set": set_fields, "$inc": {"version": 1}}
        if push:
            update["$push"] = push
        applied = await self.cases.collection.update_one(
            {"_id": case_id, "status": case["status"], "version": case["version"]}, update
        )
        if applied.modified_count != 1:
            raise StaleCase("another supervisor decided first; reload the case")
        await self._flush(case_id)
        return await self._reload(case_id)

    async def set_consent(self, principal: Principal, case_id: str, reveal: bool) -> Document:
        case = await self.get(principal, case_id)
        self._require(
            principal.role == "driver" and principal.driver_id == case["driver_id"],
            "only the driver decides",
            NotPermitted,
        )
        await self.cases.collection.update_one(
            {"_id": case_id}, {"$set": {"identity_consent": reveal}, "$inc": {"version": 1}}
        )
        return await self._reload(case_id)

    async def grant_compensation(
        self, principal: Principal, case_id: str, kind: str, amount: int
    ) -> Document:
        self._require(
            "supervisor" in actors_of(principal), "supervisors approve compensation", NotPermitted
        )
        case = await self.get(principal, case_id)
        self._require(kind in ("restoration", "goodwill"), "kind is restoration or goodwill")
        self._require(case["kind"] == "complaint", "only an upheld complaint is compensated")
        programme = (
            case["category"] in domain.PROGRAMME_CATEGORIES
            or (case.get("respondent") or {}).get("kind") == "programme"
        )
        self._require(
            programme,
            "only complaints about a programme service; never for a third party's misconduct",
        )
        self._require(
            case.get("outcome") in ("upheld", "partly_upheld"), "the complaint was not upheld"
        )
        self._require(
            1 <= amount <= self.settings.max_goodwill_points,
            f"between 1 and {self.settings.max_goodwill_points} points",
        )
        now = self.clock()
        comp_id = f"{case_id}:{kind}"
        event = self._event(
            ev.CaseCompensationGranted(
                compensation_id=comp_id,
                case_id=case_id,
                driver_id=case["driver_id"],
                kind=kind,
                amount=amount,
                approved_by=principal.sub,
                granted_at=now,
            ),
            case,
            comp_id,
        )
        applied = await self.cases.collection.update_one(
            {"_id": case_id, "version": case["version"], "compensations.id": {"$ne": comp_id}},
            {
                "$push": {
                    "compensations": {
                        "id": comp_id,
                        "kind": kind,
                        "amount": amount,
                        "by": principal.sub,
                        "at": now,
                    },
                    "outbox": event,
                },
                "$inc": {"version": 1},
            },
        )
        if applied.modified_count != 1:
            fresh = await self._reload(case_id)
            if any(c["id"] == comp_id for c in fresh["compensations"]):
                raise TransitionNotAllowed(f"{kind} compensation was already granted for this case")
            raise StaleCase(
                "the case was changed by someone else meanwhile; reload it and try again"
            )
        await self._flush(case_id)
        return await self._reload(case_id)

    async def compensation_applied(
        self, *, compensation_id: str, entry_id: str, amount: int, applied_at: datetime
    ) -> bool:
        """Points credited a compensation: note it on the case once (redeliveries change nothing).

        One conditional update that does not bump the version, so it never makes a person's
        transition fail. The compensation id starts with the case id (``<case_id>:...``).
        """
        case_id = compensation_id.split(":", 1)[0]
        applied = await self.cases.mark_compensation_applied(
            case_id,
            {
                "id": compensation_id,
                "entry_id": entry_id,
                "amount": amount,
                "applied_at": applied_at,
            },
        )
        if not applied and await self.cases.get(case_id) is None:
            log.warning("compensation for an unknown case", compensation_id=compensation_id)
        return applied

    # ---- collective complaints ---------------------------------------------------------------

    def _may_link(self, principal: Principal) -> None:
        self._require(
            bool(actors_of(principal) & {"dispatcher", "supervisor"}),
            "dispatchers and supervisors link collective complaints",
            NotPermitted,
        )

    async def link_collective(self, principal: Principal, case_ids: list[str]) -> Document:
        """Link complaints about one respondent into a collective; they are never merged.

        Each case is linked by its own conditional update (no status, clock or version
        change). Cases already in a collective decide which one: all the same, or refused.
        """
        self._may_link(principal)
        ids = list(dict.fromkeys(case_ids))
        self._require(2 <= len(ids) <= 200, "link between 2 and 200 cases")
        found = await self.cases.find({"_id": {"$in": ids}}, limit=len(ids))
        by_id = {doc["_id"]: doc for doc in found}
        missing = [cid for cid in ids if cid not in by_id]
        if missing:
            raise CaseNotFound(f"no such case: {', '.join(missing)}")
        docs = [by_id[cid] for cid in ids]
        self._require(all(doc["kind"] == "complaint" for doc in docs), "only complaints are linked")
        keys = {domain.respondent_key(doc) for doc in docs}
        self._require(
            None not in keys and len(keys) == 1,
            "collective complaints name one and the same respondent",
        )
        groups = {doc["collective_id"] for doc in docs if doc.get("collective_id")}
        self._require(
            len(groups) <= 1,
            "these cases are in different collectives already",
            TransitionNotAllowed,
        )
        collective_id = next(iter(groups)) if groups else f"K-{uuid.uuid4().hex[:12]}"
        refused = [cid for cid in ids if not await self.cases.link_collective(cid, collective_id)]
        if refused:
            raise StaleCase(
                f"linked into another collective meanwhile: {', '.join(refused)}; reload them"
            )
        return await self.collective(principal, collective_id)

    async def unlink_collective(
        self, principal: Principal, collective_id: str, case_id: str
    ) -> Document:
        self._may_link(principal)
        if not await self.cases.unlink_collective(case_id, collective_id):
            raise CaseNotFound("this case is not in this collective")
        return await self.collective(principal, collective_id, allow_empty=True)

    async def collective(
        self, principal: Principal, collective_id: str, *, allow_empty: bool = False
    ) -> Document:
        actors = actors_of(principal)
        self._require(
            bool(actors & {"dispatcher", "supervisor", "revisit"})
            or (principal.role == "operator" and not actors),
            "collectives are for dispatchers, supervisors and district staff",
            NotPermitted,
        )
        docs = await self.cases.find({"collective_id": collective_id}, limit=1000)
        if not docs and not allow_empty:
            raise CaseNotFound("no such collective")
        return {
            "collective_id": collective_id,
            "respondent": docs[0].get("respondent") if docs else None,
            "cases": docs,
            "drivers": len({doc["driver_id"] for doc in docs}),
            "open": sum(1 for doc in docs if doc["status"] not in domain.FINISHED),
        }

    # ---- the breach scan ---------------------------------------------------------------------

    async def scan(self, limit: int = 500) -> int:
        """Announce due warnings and escalations, each once; safe in every instance at once."""
        now = self.clock()
        announced = 0
        for case in await self.cases.due_for_scan(now, limit):
            try:
                announced += await self._announce(case, now)
            except Exception as exc:
                # One case that cannot be handled must not keep the others' warnings back.
                CASE_WORK_FAILURES.labels(self.settings.service_name, "breach_scan").inc()
                log.warning(
                    "breach scan skipped a case", case_id=case.get("_id"), error=describe_error(exc)
                )
                await self._look_again_later(case, now)
        return announced

    async def _look_again_later(self, case: Document, now: datetime) -> None:
        # Otherwise it stays first in line and, with enough of them, starves the round.
        try:
            await self.cases.set_next_check(
                case["_id"], case["version"], now + timedelta(minutes=15)
            )
        except Exception as exc:
            log.warning("could not defer a skipped case", error=describe_error(exc))

    async def _announce(self, case: Document, now: datetime) -> int:
        found, _ = domain.announcements_due(self.calendar, case, now)
        if not found:
            await self.cases.set_next_check(
                case["_id"], case["version"], domain.next_check(self.calendar, case, now)
            )
            return 0
        outbox: list[Document] = []
        set_fields: Document = {}
        for item in found:
            event_id = f"{case['_id']}:{item.key}"
            unit = case.get("unit_id") or (
                case["offered_unit_ids"][0] if case["offered_unit_ids"] else None
            )
            data: EventData
            if item.level == 0:
                data = ev.CaseDeadlineWarning(
                    case_id=case["_id"],
                    driver_id=case["driver_id"],
                    clock=item.clock,
                    round=case["round"],
                    unit_id=unit,
                    due=item.due,
                    due_provisional=bool(case["clocks"][item.clock].get("provisional")),
                    warned_at=now,
                )
            else:
                data = ev.CaseBreached(
                    case_id=case["_id"],
                    driver_id=case["driver_id"],
                    clock=item.clock,
                    round=case["round"],
                    level=item.level,
                    unit_id=unit,
                    lead_unit_id=case.get("lead_unit_id"),
                    due=item.due,
                    due_provisional=bool(case["clocks"][item.clock].get("provisional")),
                    breached_at=now,
                )
                set_fields[f"clocks.{item.clock}.breached"] = True
            outbox.append(self._event(data, case, event_id))
            if item.level == 1 and item.clock in ("first_response", "resolution"):
                comp_id = f"{case['_id']}:missed:{item.clock}:r{case['round']}"
                outbox.append(
                    self._event(
                        ev.CaseCompensationGranted(
                            compensation_id=comp_id,
                            case_id=case["_id"],
                            driver_id=case["driver_id"],
                            kind="missed_deadline",
                            amount=self.settings.missed_deadline_points,
                            clock=item.clock,
                            granted_at=now,
                        ),
                        case,
                        comp_id,
                    )
                )
        keys = [item.key for item in found]
        after = _apply(case, set_fields)
        after["announced"] = [*case.get("announced", []), *keys]
        set_fields["next_check"] = domain.next_check(self.calendar, after, now)
        if not await self.cases.announce(
            case["_id"], version=case["version"], keys=keys, set_fields=set_fields, outbox=outbox
        ):
            return 0  # another instance announced it, or the case moved on: the next scan sees
        self.faults.hit("cases.scan.before_flush")
        await self._flush(case["_id"])
        return len(found)

    # ---- dossiers and figures ----------------------------------------------------------------

    async def assign_broker(self, principal: Principal, driver_id: str, broker_id: str) -> Document:
        self._require(
            "supervisor" in actors_of(principal), "supervisors name care brokers", NotPermitted
        )
        return await self.dossiers.assign(driver_id, broker_id, self.clock(), principal.sub)

    async def dossier(
        self, principal: Principal, driver_id: str
    ) -> tuple[Document, list[Document]]:
        dossier = await self.dossiers.get(driver_id)
        if dossier is None:
            raise CaseNotFound("no dossier for this driver")
        actors = actors_of(principal)
        allowed = (
            (principal.role == "driver" and principal.driver_id == driver_id)
            or bool(actors & {"supervisor", "dispatcher", "revisit"})
            or ("care" in actors and dossier.get("broker_id") == principal.sub)
            or (principal.role == "operator" and not actors)
        )
        if not allowed:
            raise CaseNotFound("no dossier for this driver")
        cases = await self.cases.find({"driver_id": driver_id}, limit=200)
        return dossier, cases

    async def workload(self, broker_id: str) -> Document:
        drivers = await self.dossiers.drivers_of(broker_id)
        open_cases = 0
        if drivers:
            open_cases = await self.cases.collection.count_documents(
                {"driver_id": {"$in": drivers}, "status": {"$nin": sorted(domain.FINISHED)}}
            )
        return {"broker_id": broker_id, "drivers": len(drivers), "open_cases": open_cases}

    async def figures(
        self, *, month: str | None, unit_id: str | None, category: str | None, group_by: str | None
    ) -> list[Document]:
        query: Document = {"status": {"$nin": ["withdrawn", "merged"]}}
        if month:
            query["month"] = month
        if unit_id:
            query["lead_unit_id"] = unit_id
        if category:
            query["category"] = category
        docs = await self.cases.for_figures(query)
        return domain.figures(docs, self.clock(), group_by)

    # ---- plumbing ----------------------------------------------------------------------------

    def _event(self, data: EventData, case: Document, event_id: str) -> Document:
        event = new_event(
            data,
            source=EVENT_SOURCE,
            subject=case["driver_id"],
            event_id=event_id,
            time=self.clock(),
        )
        return outbox_entry(TOPIC, event)

    def _transition_event(
        self, t: domain.Transition, case: Document, after: Document, p: ActionParams, now: datetime
    ) -> Document:
        version = case["version"] + 1
        common = {"case_id": case["_id"], "driver_id": case["driver_id"], "version": version}
        data: EventData
        if t.event == "assigned":
            data = ev.CaseAssigned(
                **common,
                transition=t.name,
                from_status=case["status"],
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
                from_status=case["status"],
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
                from_status=case["status"],
                to_status=after["status"],
                unit_id=after.get("unit_id"),
                lead_unit_id=after.get("lead_unit_id"),
                reason_code=p.reason_code,
                round=after["round"],
                changed_at=now,
            )
        return self._event(data, case, f"{case['_id']}:v{version}")

    async def _flush(self, case_id: str) -> None:
        if self.relay is not None:
            try:
                await self.relay.flush(self.cases.collection, case_id)
            except Exception as exc:  # the relay's sweep publishes it later
                log.warning(
                    "case events not published yet", case_id=case_id, error=type(exc).__name__
                )

    async def _reload(self, case_id: str) -> Document:
        case = await self.cases.get(case_id)
        if case is None:
            raise CaseNotFound("no such case")
        return case


def _apply(case: Document, fields: Document) -> Document:
    """The case as it will be after ``$set`` of dotted ``fields`` (for events and next_check)."""
    after: Document = {**case, "clocks": {k: dict(v) for k, v in case["clocks"].items() if v}}
    for path, value in fields.items():
        parts = path.split(".")
        target = after
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    after["clocks"] = {k: v for k, v in after["clocks"].items() if v}
    return after
