"""Earning rules: which event earns how many points, within which caps and windows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from common.events import DOMAIN_EVENTS, PARTNER_EVENTS
from common.events.registry import DriverKind

Op = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"]

EARNING_TYPES = frozenset(
    {
        "service.used.v1",
        "activity.attended.v1",
        "volunteer.logged.v1",
        "safety.milestone.v1",
        "training.completed.v1",
        "port.appointment.kept.v1",
        "rest.taken.v1",
        "help.completed.v1",
        "honour.awarded.v1",
    }
)

# What one event may earn when the rule names no maximum: above every default rule's fixed
# points, far below what an unbounded unit field lets a sender claim (200 training hours: 1,010).
DEFAULT_MAX_PER_EVENT = 100
MAX_PER_EVENT_LIMIT = 10_000


_COMPARISONS: dict[Op, Callable[[Any, Any], bool]] = {
    "eq": lambda actual, value: bool(actual == value),
    "ne": lambda actual, value: bool(actual != value),
    "in": lambda actual, value: actual in (value or []),
    "gt": lambda actual, value: bool(actual > value),
    "gte": lambda actual, value: bool(actual >= value),
    "lt": lambda actual, value: bool(actual < value),
    "lte": lambda actual, value: bool(actual <= value),
}


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")
    op: Op = "eq"
    value: Any = None

    def holds(self, data: dict[str, Any]) -> bool:
        present = self.field in data and data[self.field] is not None
        if self.op == "exists":
            return present == bool(self.value if self.value is not None else True)
        compare = _COMPARISONS.get(self.op)
        if not present or compare is None:
            return False
        try:
            return compare(data[self.field], self.value)
        except TypeError:  # a value of another type than the rule's never matches
            return False


class RuleSpec(BaseModel):
    """What an operator writes; the service adds id, version and timestamps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    event_type: str
    conditions: list[Condition] = Field(default_factory=list, max_length=10)
    points: int = Field(default=0, ge=0, le=10_000)
    points_per_unit: int = Field(default=0, ge=0, le=1_000)
    unit_field: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]*$")
    cap_per_day: int | None = Field(default=None, ge=1)
    cap_per_month: int | None = Field(default=None, ge=1)
    max_per_event: int = Field(
        default=DEFAULT_MAX_PER_EVENT,
        ge=1,
        le=MAX_PER_EVENT_LIMIT,
        description="The most one event earns; a larger award is cut to it",
    )
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    priority: int = Field(default=0, ge=0, le=1000, description="Higher wins among matches")
    active: bool = True
    driver_kinds: list[DriverKind] | None = Field(
        default=None,
        min_length=1,
        description="Only drivers of these kinds earn by it (issue 16); absent: every driver",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_maximum(cls, data: Any) -> Any:
        # Versions stored before rules had a maximum (and bodies that name none) must stay
        # valid: their fixed points are never cut, only what the unit field adds.
        if isinstance(data, dict) and data.get("max_per_event") is None:
            points = data.get("points", 0)
            fixed = points if isinstance(points, int) else 0
            ceiling = min(max(DEFAULT_MAX_PER_EVENT, fixed), MAX_PER_EVENT_LIMIT)
            data = {**data, "max_per_event": ceiling}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        known = {t for models in DOMAIN_EVENTS.values() for t in models} | set(PARTNER_EVENTS)
        if self.event_type not in known:
            raise ValueError(f"unknown event type {self.event_type}")
        if self.event_type not in EARNING_TYPES:
            raise ValueError(f"{self.event_type} does not earn points")
        if (self.points_per_unit > 0) != (self.unit_field is not None):
            raise ValueError("points_per_unit and unit_field go together")
        if self.points == 0 and self.points_per_unit == 0:
            raise ValueError("a rule must award a positive number of points")
        if self.points > self.max_per_event:
            raise ValueError("max_per_event must be at least the rule's points")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class Rule(RuleSpec):
    rule_id: str
    version: int = Field(ge=1)
    created_at: datetime
    created_by: str

    def in_window(self, moment: datetime) -> bool:
        if self.valid_from and moment < self.valid_from:
            return False
        return not (self.valid_until and moment >= self.valid_until)

    def matches(
        self,
        event_type: str,
        data: dict[str, Any],
        moment: datetime,
        kind: DriverKind = "container_truck",
    ) -> bool:
        return self.why_not(event_type, data, moment, kind) is None

    def why_not(
        self,
        event_type: str,
        data: dict[str, Any],
        moment: datetime,
        kind: DriverKind = "container_truck",
    ) -> str | None:
        """Why the rule does not apply to the event (None: it does). ``matches`` is this, so
        the simulator's explanation and the award can never disagree."""
        if self.event_type != event_type:
            return f"the rule is for {self.event_type}"
        if not self.active:
            return "the rule is switched off"
        if not self.in_window(moment):
            return "the event's time is outside the rule's validity"
        if self.driver_kinds is not None and kind not in self.driver_kinds:
            return f"the driver is a {kind} driver; the rule is for {', '.join(self.driver_kinds)}"
        failed = next((c for c in self.conditions if not c.holds(data)), None)
        if failed is not None:
            return f"condition not met: {failed.field} {failed.op} {failed.value!r}"
        return None

    def base_points(self, data: dict[str, Any]) -> int:
        amount = self.points
        if self.unit_field and self.points_per_unit:
            units = data.get(self.unit_field)
            if isinstance(units, int | float) and units > 0:
                amount += int(units * self.points_per_unit)
        return amount


def choose_rule(
    rules: list[Rule],
    event_type: str,
    data: dict[str, Any],
    moment: datetime,
    kind: DriverKind = "container_truck",
) -> Rule | None:
    """The highest-priority active rule matching the event at its own time (replay-stable)
    for the driver's kind (the kind the registry last announced)."""
    matching = [r for r in rules if r.matches(event_type, data, moment, kind)]
    if not matching:
        return None
    return max(matching, key=lambda r: (r.priority, r.version, r.rule_id))


def capped_amount(
    amount: int,
    *,
    used_today: int,
    used_month: int,
    cap_per_day: int | None,
    cap_per_month: int | None,
) -> int:
    room = amount
    if cap_per_day is not None:
        room = min(room, cap_per_day - used_today)
    if cap_per_month is not None:
        room = min(room, cap_per_month - used_month)
    return max(0, room)


# Default rules: one or more per earning event type of the handbook. A kiosk's partner
# service.used.v1 is not awarded directly: the stations service checks it (window dedupe,
# impossible travel) and re-announces it on stations.events, which is what earns.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    # The mutual-help board (cases service): a driver who helped another, confirmed done by the
    # driver helped. Helpers who are not drivers (stations, units, party members) earn nothing.
    "mutual-help": {
        "name": "Mutual help given",
        "event_type": "help.completed.v1",
        "conditions": [{"field": "helper_kind", "op": "eq", "value": "driver"}],
        "points": 30,
        "max_per_event": 30,
        "cap_per_day": 60,
        "cap_per_month": 300,
    },
    # Honours (cases service): a bonus per honour announced, by category.
    "honour-monthly-star": {
        "name": "Monthly star (每月之星)",
        "event_type": "honour.awarded.v1",
        "conditions": [{"field": "category", "op": "eq", "value": "monthly_star"}],
        "points": 50,
    },
    "honour-model-driver": {
        "name": "Model driver of the year (示范标兵)",
        "event_type": "honour.awarded.v1",
        "conditions": [{"field": "category", "op": "eq", "value": "model_driver"}],
        "points": 200,
        "max_per_event": 200,
    },
    "honour-safety-model": {
        "name": "Safety model of the year (安全标兵)",
        "event_type": "honour.awarded.v1",
        "conditions": [{"field": "category", "op": "eq", "value": "safety_model"}],
        "points": 100,
    },
    "honour-good-samaritan": {
        "name": "Good samaritan of the year (首善探头)",
        "event_type": "honour.awarded.v1",
        "conditions": [{"field": "category", "op": "eq", "value": "good_samaritan"}],
        "points": 100,
    },
    "station-service": {
        "name": "Station service used",
        "event_type": "service.used.v1",
        "points": 5,
        "cap_per_day": 15,
    },
    "activity": {
        "name": "Station activity attended",
        "event_type": "activity.attended.v1",
        "points": 20,
    },
    "volunteer": {
        "name": "Volunteer work (per hour)",
        "event_type": "volunteer.logged.v1",
        "points_per_unit": 10,
        "unit_field": "hours",
        "cap_per_day": 80,
    },
    "safety-100-days": {
        "name": "100 days without a violation",
        "event_type": "safety.milestone.v1",
        "conditions": [{"field": "days", "op": "gte", "value": 100}],
        "points": 100,
        # A partner's word is the only evidence, and a new event id is a new award: one
        # milestone's worth a month at most (a real one comes every hundred days).
        "cap_per_month": 100,
    },
    "safety-30-days": {
        "name": "30 days without a violation",
        "event_type": "safety.milestone.v1",
        "conditions": [
            {"field": "days", "op": "gte", "value": 30},
            {"field": "days", "op": "lt", "value": 100},
        ],
        "points": 20,
        "cap_per_month": 20,
    },
    "training": {
        "name": "Training completed (per hour)",
        "event_type": "training.completed.v1",
        "points_per_unit": 5,
        "unit_field": "hours",
        "points": 10,
        # As many as one long course a day: the same course re-sent under new ids earns no
        # more than that.
        "cap_per_day": 100,
    },
    # Issue 17: a driver nudged after hours at the wheel who checks in to rest at the named
    # station in time (stations' rest.taken.v1: one per nudge, so one per driving session).
    "rest-after-nudge": {
        "name": "Rested at the station a rest nudge named",
        "event_type": "rest.taken.v1",
        "points": 10,
        "cap_per_day": 20,
    },
    "appointment-on-time": {
        "name": "Port appointment kept on time",
        "event_type": "port.appointment.kept.v1",
        "conditions": [{"field": "on_time", "op": "eq", "value": True}],
        "points": 2,
        "cap_per_day": 10,
        "cap_per_month": 150,
    },
}

# Who made the versions the service seeds, as opposed to an operator's name.
DEFAULT_AUTHOR = "default"

# Default rules as earlier releases seeded them, kept as they were then (not derived from the
# ones above, which move on). A store whose latest version of a rule is still one of these, made
# by the service and never changed by an operator, takes the current default as a new version
# at start-up; a rule an operator changed, or one a newer release seeded, is left alone.
SUPERSEDED_DEFAULTS: dict[str, list[dict[str, Any]]] = {
    # Before 2026-12-07 the partner rules for milestones and courses had no caps.
    "safety-100-days": [
        {
            "name": "100 days without a violation",
            "event_type": "safety.milestone.v1",
            "conditions": [{"field": "days", "op": "gte", "value": 100}],
            "points": 100,
        }
    ],
    "safety-30-days": [
        {
            "name": "30 days without a violation",
            "event_type": "safety.milestone.v1",
            "conditions": [
                {"field": "days", "op": "gte", "value": 30},
                {"field": "days", "op": "lt", "value": 100},
            ],
            "points": 20,
        }
    ],
    "training": [
        {
            "name": "Training completed (per hour)",
            "event_type": "training.completed.v1",
            "points_per_unit": 5,
            "unit_field": "hours",
            "points": 10,
        }
    ],
}


def spec_of(rule: Rule) -> RuleSpec:
    """What an operator would have written for this version."""
    return RuleSpec.model_validate(rule.model_dump(include=set(RuleSpec.model_fields)))


def superseded_default(rule: Rule) -> bool:
    """Whether this version is a default an earlier release seeded and this one replaces."""
    if rule.created_by != DEFAULT_AUTHOR:
        return False
    spec = spec_of(rule)
    return any(
        spec == RuleSpec.model_validate(earlier)
        for earlier in SUPERSEDED_DEFAULTS.get(rule.rule_id, [])
    )
