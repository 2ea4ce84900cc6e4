"""Events the cases service announces on ``cases.events``.

Case events carry ids, categories, states and times: never a description, a note, a name or any
other free text or personal data (the case itself is read over HTTP, under its access rules).
The calendar event carries a public holiday notice, nothing about any person.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, Field

from common.events.base import EventData
from common.events.erasure import ErasureCompleted

CaseKind = Literal["question", "help_request", "complaint", "report", "suggestion"]
Channel = Literal["station", "hotline", "app", "partner"]
Clock = Literal["acceptance", "first_response", "progress", "resolution", "revisit"]

_PROVISIONAL = (
    "True when the deadline was counted on weekends only because the public holidays of a year "
    "it spans are not loaded yet; a case.deadlines_recomputed.v1 follows once they are"
)


class CaseOpened(EventData):
    event_type: ClassVar[str] = "case.opened.v1"

    case_id: str
    driver_id: str
    kind: CaseKind
    category: str
    channel: Channel
    priority: Literal["normal", "high", "urgent"]
    emergency: bool
    station_id: str | None = None
    opened_at: AwareDatetime
    resolution_due: AwareDatetime
    resolution_due_provisional: bool = Field(default=False, description=_PROVISIONAL)


class CaseAssigned(EventData):
    event_type: ClassVar[str] = "case.assigned.v1"

    case_id: str
    driver_id: str
    transition: Literal["dispatch", "transfer"]
    from_status: str
    to_status: str
    unit_ids: list[str] = Field(description="The units the case is offered to")
    lead_unit_id: str | None = Field(
        default=None, description="The unit that first accepted the case and stays responsible"
    )
    final: bool = Field(
        default=False, description="A supervisor's assignment after a second return: no return"
    )
    version: int
    assigned_at: AwareDatetime


class CaseStatusChanged(EventData):
    event_type: ClassVar[str] = "case.status_changed.v1"

    case_id: str
    driver_id: str
    transition: str = Field(description="The transition of the case's state table")
    from_status: str
    to_status: str
    unit_id: str | None = None
    lead_unit_id: str | None = None
    reason_code: str | None = Field(
        default=None, description="A code from the transition's closed list of reasons"
    )
    round: int = Field(ge=1, description="1, then 2 after a second round or a reopen")
    version: int
    changed_at: AwareDatetime


class CaseDeadlineWarning(EventData):
    event_type: ClassVar[str] = "case.deadline_warning.v1"

    case_id: str
    driver_id: str
    clock: Clock
    round: int = Field(ge=1)
    unit_id: str | None = None
    due: AwareDatetime
    due_provisional: bool = Field(default=False, description=_PROVISIONAL)
    warned_at: AwareDatetime


class CaseBreached(EventData):
    event_type: ClassVar[str] = "case.breached.v1"

    case_id: str
    driver_id: str
    clock: Clock
    round: int = Field(ge=1)
    level: int = Field(ge=1, description="Escalation level: 1 at the deadline, higher later")
    unit_id: str | None = None
    lead_unit_id: str | None = None
    due: AwareDatetime
    due_provisional: bool = Field(default=False, description=_PROVISIONAL)
    breached_at: AwareDatetime


class CaseDeadlineExtended(EventData):
    event_type: ClassVar[str] = "case.deadline_extended.v1"

    case_id: str
    driver_id: str
    clock: Clock
    round: int = Field(ge=1)
    reason_code: str = Field(description="Why, from the closed list of extension reasons")
    working_days: int = Field(gt=0)
    old_due: AwareDatetime
    new_due: AwareDatetime
    new_due_provisional: bool = Field(default=False, description=_PROVISIONAL)
    version: int
    extended_at: AwareDatetime


class CaseResolved(EventData):
    event_type: ClassVar[str] = "case.resolved.v1"

    case_id: str
    driver_id: str
    outcome: Literal["answered", "upheld", "partly_upheld", "not_upheld", "referred"]
    unit_id: str | None = None
    lead_unit_id: str | None = None
    round: int = Field(ge=1)
    within_limit: bool = Field(description="Resolved before the resolution deadline")
    version: int
    resolved_at: AwareDatetime


class CaseClosed(EventData):
    event_type: ClassVar[str] = "case.closed.v1"

    case_id: str
    driver_id: str
    transition: str
    from_status: str
    satisfaction: Literal["satisfied", "basically_satisfied", "not_satisfied"] | None = None
    solved: Literal["solved", "partly", "not_solved"] | None = None
    exempt: bool = Field(default=False, description="Closed by two supervisors' exemption")
    round: int = Field(ge=1)
    version: int
    closed_at: AwareDatetime


class CaseCompensationGranted(EventData):
    event_type: ClassVar[str] = "case.compensation_granted.v1"

    compensation_id: str = Field(
        description="Stable id: the points service applies each compensation once under it"
    )
    case_id: str
    driver_id: str
    kind: Literal["missed_deadline", "restoration", "goodwill"]
    amount: int = Field(gt=0, description="Points to credit")
    clock: Clock | None = Field(default=None, description="The missed clock, for missed_deadline")
    approved_by: str | None = Field(
        default=None, description="The supervisor's account id (restoration and goodwill)"
    )
    granted_at: AwareDatetime


class DeadlineChange(BaseModel):
    clock: Clock
    old_due: AwareDatetime = Field(description="As counted before (provisional, or older days)")
    new_due: AwareDatetime
    provisional: bool = Field(description=_PROVISIONAL)


class CaseDeadlinesRecomputed(EventData):
    """A case's running deadlines counted again after a year's public holidays were loaded."""

    event_type: ClassVar[str] = "case.deadlines_recomputed.v1"

    case_id: str
    driver_id: str
    round: int = Field(ge=1)
    calendar_years: list[int] = Field(description="The years whose loading changed the count")
    changes: list[DeadlineChange] = Field(min_length=1)
    version: int
    recomputed_at: AwareDatetime


class HolidayRange(BaseModel):
    name: str
    start: date
    end: date


class CalendarYearLoaded(EventData):
    """A year's State Council holiday notice was loaded or corrected (id calendar:<year>:v<n>)."""

    event_type: ClassVar[str] = "calendar.year_loaded.v1"

    year: int = Field(description="The calendar year; the envelope's subject is calendar-<year>")
    version: int = Field(ge=1, description="1 for the first load, then one more per correction")
    source: str = Field(description="Where the dates come from (the notice's title and date)")
    holidays: list[HolidayRange]
    makeup_workdays: list[date] = Field(description="Weekend days that are working days")
    digest: str = Field(description="SHA-256 of the year's days; changes when any day changes")
    previous_digest: str | None = Field(
        default=None, description="The days' digest before this load (a correction)"
    )
    loaded_by: str = Field(description="The operator's account id")
    loaded_at: AwareDatetime


class CasesErasureCompleted(ErasureCompleted):
    """The cases service holds nothing personal about the erased driver any more."""

    event_type: ClassVar[str] = "cases.erasure_completed.v1"
