"""What a step of the state table is given and what it decides (``cases.state_table`` has
one step per transition; ``cases.transitions`` runs them and writes the outcome)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cases.calendar import BusinessCalendar
from cases.case import Case
from cases.domain import ClockPolicy
from cases.settings import CasesSettings
from cases.store.cases import CaseStore
from common.auth import Principal

Document = dict[str, Any]

Effect = Callable[[], Awaitable[None]]


@dataclass
class ActionParams:
    reason_code: str | None = None
    note: str | None = None
    unit_ids: list[str] = field(default_factory=list)
    outcome: str | None = None
    satisfaction: str | None = None
    solved: str | None = None
    target_case_id: str | None = None


@dataclass(frozen=True)
class Move:  # one transition asked for: the case as read, who (as which actors), when
    case: Case
    principal: Principal
    actors: frozenset[str]
    params: ActionParams
    now: datetime


@dataclass(frozen=True)
class Rules:  # what the steps consult: calendar, limits and windows, the store (merge)
    calendar: BusinessCalendar
    policy: ClockPolicy
    settings: CasesSettings
    store: CaseStore


@dataclass
class Step:
    """What a step decides: the target status and the fields to set, and what else to write."""

    target: str
    fields: Document
    # One value appended to each named list of the case (besides history and outbox).
    append: Document = field(default_factory=dict)
    add_units: list[str] = field(default_factory=list)
    # Undo what the step did elsewhere when the case changed meanwhile.
    on_fail: Effect | None = None
    after: list[Effect] = field(default_factory=list)


StepFn = Callable[[Move, Rules], Awaitable[Step]]
