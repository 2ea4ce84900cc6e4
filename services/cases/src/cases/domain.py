"""Cases: the taxonomy, the state table, who may make each transition, and the clocks.

Pure rules over plain values; no I/O. A case is stored as one document (see ``store.cases``);
the functions here compute what a transition or a scan changes, and the service writes it in
one conditional update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cases.calendar import BusinessCalendar, provisional
from common.case_categories import CASE_CATEGORIES
from common.domain_errors import DomainError

Document = dict[str, Any]

KINDS = ("question", "help_request", "complaint", "report", "suggestion")
CHANNELS = ("station", "hotline", "app", "partner")
PRIORITIES = ("normal", "high", "urgent")

# The taxonomy (common.case_categories); ``programme`` categories are services we run
# ourselves, the only ones where an upheld complaint may be compensated with points.
CATEGORIES: dict[str, str] = CASE_CATEGORIES
PROGRAMME_CATEGORIES = frozenset({"station_services", "programme_points"})

ATTACHMENT_TYPES = frozenset(
    {"image/jpeg", "image/png", "application/pdf", "audio/mpeg", "audio/amr", "video/mp4"}
)

Status = Literal[
    "received",
    "assigned",
    "in_progress",
    "awaiting_driver",
    "suspended",
    "resolved",
    "review",
    "exemption_proposed",
    "closed",
    "rejected",
    "objected",
    "withdrawn",
    "merged",
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
ACTIVE = frozenset({"received", "assigned", "in_progress", "awaiting_driver", "suspended"})
PAUSED = frozenset({"awaiting_driver", "suspended"})
FINISHED = frozenset({"closed", "withdrawn", "merged", "rejected"})

# Who acts. Operators hold these as scopes; drivers and stations are roles.
Actor = Literal["driver", "station", "dispatcher", "handler", "supervisor", "care", "revisit"]
SCOPES: dict[str, Actor] = {
    "cases:dispatch": "dispatcher",
    "cases:handle": "handler",
    "cases:supervise": "supervisor",
    "cases:care": "care",
    "cases:revisit": "revisit",
}

REJECT_REASONS = ("out_of_scope", "duplicate", "no_contact", "not_actionable", "other_channel")
RETURN_REASONS = ("not_our_remit", "wrong_district", "insufficient_detail")
SUSPEND_REASONS = ("court_or_arbitration", "third_party_investigation", "force_majeure")
EXTENSION_REASONS = ("complex_investigation", "several_units_involved", "awaiting_third_party")
OUTCOMES = ("answered", "upheld", "partly_upheld", "not_upheld", "referred")
SATISFACTION = ("satisfied", "basically_satisfied", "not_satisfied")
SOLVED = ("solved", "partly", "not_solved")


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str  # "" when the target depends on the case (return, revisit, unmerge)
    actors: frozenset[str]
    event: Literal["assigned", "status_changed", "resolved", "closed"] = "status_changed"


def _t(
    name: str, sources: str, target: str, actors: str, event: str = "status_changed"
) -> Transition:
    return Transition(
        name,
        frozenset(sources.split()),
        target,
        frozenset(actors.split()),
        event,  # type: ignore[arg-type]
    )


_OPEN = "received assigned in_progress awaiting_driver suspended"

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t("dispatch", "received", "assigned", "dispatcher supervisor", "assigned"),
        _t("reject", "received", "rejected", "dispatcher supervisor"),
        _t("object", "rejected", "objected", "driver care"),
        _t("uphold_objection", "objected", "received", "supervisor"),
        _t("dismiss_objection", "objected", "closed", "supervisor", "closed"),
        _t("accept", "assigned", "in_progress", "handler"),
        _t("return", "assigned", "", "handler"),
        _t("transfer", "in_progress", "assigned", "handler supervisor", "assigned"),
        _t("feedback", "in_progress", "in_progress", "handler"),
        _t("request_info", "in_progress", "awaiting_driver", "handler"),
        _t("driver_replied", "awaiting_driver", "in_progress", "driver care handler"),
        _t("suspend", "in_progress", "suspended", "supervisor"),
        _t("resume", "suspended", "in_progress", "handler supervisor"),
        _t("resolve", "in_progress", "resolved", "handler", "resolved"),
        _t("revisit", "resolved", "", "revisit"),
        _t("order_second_round", "review exemption_proposed", "in_progress", "supervisor"),
        _t("propose_exemption", "review", "exemption_proposed", "supervisor"),
        _t("confirm_exemption", "exemption_proposed", "closed", "supervisor", "closed"),
        _t("reopen", "closed", "in_progress", "driver care supervisor"),
        _t("withdraw", _OPEN, "withdrawn", "driver care"),
        _t("merge", _OPEN, "merged", "dispatcher supervisor"),
        _t("unmerge", "merged", "", "dispatcher supervisor"),
    )
}


class CaseError(DomainError):
    """Base of the domain's refusals; ``cases.api.errors`` says which status each answers with."""


class CaseNotFound(CaseError):
    pass


class TransitionNotAllowed(CaseError):
    """The transition is not in the state table for the case's current status."""


class NotPermitted(CaseError):
    pass


class StaleCase(CaseError):
    """Someone else changed the case first (the conditional update found another version)."""


class InvalidRequest(CaseError):
    pass


# ---- clocks ---------------------------------------------------------------------------------

ClockName = Literal["acceptance", "first_response", "progress", "resolution", "revisit"]
PAUSABLE: frozenset[str] = frozenset({"progress", "resolution"})
# Escalation levels after a breach, in working days past the deadline (level 1 at the deadline).
ESCALATION_DAYS: tuple[int, ...] = (0, 1, 3)
WARNING_FRACTION = 0.75


@dataclass(frozen=True)
class Limit:
    """A time limit: business hours, or working days counted as the law counts them."""

    unit: Literal["hours", "days"]
    amount: int

    def due(self, calendar: BusinessCalendar, start: datetime) -> datetime:
        if self.unit == "days":
            return calendar.working_days_after(start, self.amount)
        return calendar.add_business_seconds(start, self.amount * 3600)


@dataclass(frozen=True)
class ClockPolicy:
    acceptance: Limit = Limit("hours", 4)
    first_response: Limit = Limit("days", 1)
    progress: Limit = Limit("days", 5)
    resolution: dict[str, Limit] = field(
        default_factory=lambda: {
            "question": Limit("days", 5),
            "help_request": Limit("days", 10),
            "complaint": Limit("days", 15),
            "report": Limit("days", 15),
            "suggestion": Limit("days", 15),
        }
    )
    revisit: Limit = Limit("days", 3)
    emergency_acceptance: Limit = Limit("hours", 1)
    emergency_first_response: Limit = Limit("hours", 2)
    emergency_resolution: Limit = Limit("days", 3)


def new_clock(calendar: BusinessCalendar, start: datetime, limit: Limit) -> Document:
    due = limit.due(calendar, start)
    span = calendar.business_seconds_between(start, due)
    warn_at = calendar.add_business_seconds(start, span * WARNING_FRACTION)
    return {
        "started_at": start,
        "due": due,
        "warn_at": warn_at,
        "met_at": None,
        "breached": False,
        # How the deadline was counted, so it can be counted again when a year's holidays are
        # loaded (cases.clock_replay): the limit, then every pause and extension in order.
        "limit": {"unit": limit.unit, "amount": limit.amount},
        "ops": [],
        **provisional(calendar, start, due),
    }


def intake_clocks(
    calendar: BusinessCalendar, policy: ClockPolicy, opened_at: datetime, kind: str, emergency: bool
) -> Document:
    """Every clock but the revisit's starts at intake, not at acceptance."""
    if emergency:
        limits = {
            "acceptance": policy.emergency_acceptance,
            "first_response": policy.emergency_first_response,
            "progress": policy.progress,
            "resolution": policy.emergency_resolution,
        }
    else:
        limits = {
            "acceptance": policy.acceptance,
            "first_response": policy.first_response,
            "progress": policy.progress,
            "resolution": policy.resolution[kind],
        }
    return {name: new_clock(calendar, opened_at, limit) for name, limit in limits.items()}


def meet(clocks: Document, names: tuple[str, ...], at: datetime) -> Document:
    """``$set`` fields that mark the named, still-running clocks met at ``at``."""
    out: Document = {}
    for name in names:
        clock = clocks.get(name)
        if clock is None or clock["met_at"] is not None:
            continue
        out[f"clocks.{name}.met_at"] = at
        if at > _aware(clock["due"]):
            out[f"clocks.{name}.breached"] = True
    return out


def restart_progress(
    calendar: BusinessCalendar, policy: ClockPolicy, clocks: Document, at: datetime
) -> tuple[Document, Document | None]:
    """Feedback given at ``at``: the progress clock starts its next period (it recurs).

    Returns the ``$set`` fields and the record of the period just finished (a breach in it stays
    a breach there; its announcements keep their keys, the next period has its own).
    """
    old = clocks.get("progress")
    period = int(old.get("period", 1)) if old else 0
    fresh = {**new_clock(calendar, at, policy.progress), "period": period + 1}
    if not old:
        return {"clocks.progress": fresh}, None
    record = {
        "period": period,
        "started_at": old["started_at"],
        "due": old["due"],
        "met_at": old["met_at"] or at,
        "breached": bool(old["breached"]) or (old["met_at"] is None and at > _aware(old["due"])),
    }
    return {"clocks.progress": fresh}, record


def clock_key(name: str, clock: Document, round_: int) -> str:
    """The announcement key prefix of a clock (a recurring clock's later periods add ``p<n>``)."""
    period = int(clock.get("period", 1))
    return f"{name}:r{round_}" + (f":p{period}" if period > 1 else "")


def shift_after_pause(
    calendar: BusinessCalendar, clocks: Document, paused_at: datetime, resumed_at: datetime
) -> tuple[Document, float]:
    """Push the pausable clocks by the office time paused; a breach before the pause stays."""
    paused = calendar.business_seconds_between(paused_at, resumed_at)
    out: Document = {}
    for name in PAUSABLE:
        clock = clocks.get(name)
        if clock is None or clock["met_at"] is not None:
            continue
        if clock["breached"] or _aware(clock["due"]) <= paused_at:
            out[f"clocks.{name}.breached"] = True
            continue
        due = calendar.add_business_seconds(_aware(clock["due"]), paused)
        out[f"clocks.{name}.due"] = due
        out[f"clocks.{name}.warn_at"] = calendar.add_business_seconds(
            _aware(clock["warn_at"]), paused
        )
        out[f"clocks.{name}.ops"] = [*clock.get("ops", []), {"pause": [paused_at, resumed_at]}]
        for key, value in provisional(calendar, _aware(clock["started_at"]), due).items():
            out[f"clocks.{name}.{key}"] = value
    return out, paused


@dataclass(frozen=True)
class Announcement:
    """A warning or an escalation level that is due: announced once under ``key``."""

    key: str
    clock: str
    level: int  # 0 for the warning
    due: datetime


def announcements_due(
    calendar: BusinessCalendar, case: Document, now: datetime
) -> tuple[list[Announcement], datetime | None]:
    """What the scan should announce now, and when the case next needs looking at."""
    found: list[Announcement] = []
    upcoming: list[datetime] = []
    announced = set(case.get("announced", ()))
    paused = case["status"] in PAUSED
    round_ = case.get("round", 1)
    for name, clock in case.get("clocks", {}).items():
        if not clock or clock["met_at"] is not None:
            continue
        if paused and name in PAUSABLE and not clock["breached"]:
            continue  # its deadline moves when the case resumes
        due = _aware(clock["due"])
        base = clock_key(name, clock, round_)
        warn = f"{base}:warn"
        if warn not in announced:
            at = _aware(clock["warn_at"])
            if at <= now:
                found.append(Announcement(warn, name, 0, due))
            else:
                upcoming.append(at)
        for level, days in enumerate(ESCALATION_DAYS, start=1):
            key = f"{base}:breach{level}"
            if key in announced:
                continue
            at = (
                due
                if days == 0
                else calendar.add_business_seconds(due, days * calendar.day_seconds)
            )
            if at <= now:
                found.append(Announcement(key, name, level, due))
            else:
                # The levels come later and later: the first still ahead is the clock's next.
                upcoming.append(at)
                break
    return found, min(upcoming) if upcoming else None


def _aware(moment: datetime) -> datetime:
    # The store hands datetimes back as UTC-aware (tz_aware clients); tolerate naive ones.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def next_check(calendar: BusinessCalendar, case: Document, now: datetime) -> datetime | None:
    if case["status"] in FINISHED:
        return None
    found, upcoming = announcements_due(calendar, case, now)
    return now if found else upcoming


def return_window_open(
    calendar: BusinessCalendar, assigned_at: datetime, now: datetime, hours: float
) -> bool:
    return calendar.business_seconds_between(assigned_at, now) <= hours * 3600


def within(now: datetime, since: datetime, days: float) -> bool:
    return now - _aware(since) <= timedelta(days=days)


def respondent_key(case: Document) -> str | None:
    """Who a complaint is about, for linking collective complaints (None: nobody named)."""
    respondent = case.get("respondent") or {}
    if respondent.get("id"):
        return f"id:{respondent['id']}"
    name = " ".join(str(respondent.get("name") or "").split()).casefold()
    if name:
        return f"{respondent.get('kind')}:{name}"
    return None
