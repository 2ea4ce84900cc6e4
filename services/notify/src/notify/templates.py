"""Message templates: which events notify drivers and their variables (the built-in texts are
``notify.default_texts``).

Templates use ``string.Template`` placeholders (``$amount`` or ``${amount}``): no attribute or
index access, so an operator's template can never reach into objects. The variables a
template may use are the fields of its event's data model, checked when the template is saved.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from common.events import DOMAIN_EVENTS, EventData
from notify.default_texts import DEFAULTS as DEFAULTS
from notify.domain import Category, Content, InvalidTemplate


@dataclass(frozen=True)
class TemplateSpec:
    event_type: str
    topic: str
    category: Category
    variables: frozenset[str]


# Source events that become a driver notification, and their category.
NOTIFYING: dict[str, tuple[str, Category]] = {
    "driver.registered.v1": ("registry.events", "account"),
    "driver.verified.v1": ("registry.events", "account"),
    "points.awarded.v1": ("points.events", "points"),
    "points.redeemed.v1": ("points.events", "points"),
    "points.reversed.v1": ("points.events", "points"),
    "points.expired.v1": ("points.events", "points"),
    "points.grade_changed.v1": ("points.events", "points"),
    "activity.attended.v1": ("stations.events", "activity"),
    # Issue 17: the stations service decides the nudge (it owns stations' room and the
    # driver's location consent); notify words it. Urgent: it cannot wait for quiet hours.
    "rest.nudged.v1": ("stations.events", "rest"),
    "points.adjusted.v1": ("points.events", "points"),
    # The steps of a driver's own request or complaint that the driver should know about;
    # assignment, warnings and breaches are for staff.
    "case.opened.v1": ("cases.events", "case"),
    "case.deadline_extended.v1": ("cases.events", "case"),
    "case.resolved.v1": ("cases.events", "case"),
    "case.closed.v1": ("cases.events", "case"),
    "case.compensation_granted.v1": ("cases.events", "case"),
    # The mutual-help board (issue 17): the driver who posted a need hears of each step.
    "help.posted.v1": ("cases.events", "case"),
    "help.claimed.v1": ("cases.events", "case"),
    "help.failed.v1": ("cases.events", "case"),
    "help.unclaimed.v1": ("cases.events", "case"),
    # Aid applications (issue 17): the applicant hears it was received and how it ended; the
    # first of the two reviews is the committee's business.
    "aid.applied.v1": ("cases.events", "case"),
    "aid.granted.v1": ("cases.events", "case"),
    "aid.rejected.v1": ("cases.events", "case"),
    # Festival campaigns: where and by when to collect the gift.
    "aid.gift_allotted.v1": ("cases.events", "case"),
    "honour.awarded.v1": ("cases.events", "activity"),
    # Not one driver's: a round's public announcement, broadcast (notify.honours).
    "honour.round_announced.v1": ("cases.events", "activity"),
    # 三亮三比: the driver hears their organisation's evaluation of their commitment.
    "commitment.evaluated.v1": ("cases.events", "activity"),
    # Party-member life (issue 17): a consenting member hears of the branch's online meeting.
    "party.meeting.invited.v1": ("cases.events", "activity"),
}

# Variables notify works out for a type besides its event's fields.
EXTRA_VARIABLES: dict[str, frozenset[str]] = {
    # The honour's name in the message's language, and the winners' display names.
    "honour.round_announced.v1": frozenset({"honour", "names"}),
}


def _model(topic: str, event_type: str) -> type[EventData]:
    return DOMAIN_EVENTS[topic][event_type]


def spec_for(event_type: str) -> TemplateSpec:
    if event_type not in NOTIFYING:
        raise KeyError(event_type)
    topic, category = NOTIFYING[event_type]
    variables = frozenset(_model(topic, event_type).model_fields)
    variables |= EXTRA_VARIABLES.get(event_type, frozenset())
    return TemplateSpec(event_type, topic, category, variables)


def specs() -> list[TemplateSpec]:
    return [spec_for(t) for t in NOTIFYING]


def placeholders(text: str) -> list[str]:
    """The variable names a template text uses; raises InvalidTemplate on bad syntax."""
    template = string.Template(text)
    if not template.is_valid():
        raise InvalidTemplate("the template has a malformed placeholder (use $name or ${name})")
    return template.get_identifiers()


def validate(event_type: str, content: Content) -> None:
    """Refuse a template that names a variable its event does not carry."""
    try:
        spec = spec_for(event_type)
    except KeyError as exc:
        raise InvalidTemplate(f"{event_type} does not notify drivers") from exc
    used = placeholders(content.title) + placeholders(content.body)
    unknown = sorted({name for name in used if name not in spec.variables})
    if unknown:
        raise InvalidTemplate(
            f"unknown variables for {event_type}: {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(spec.variables))}",
            unknown,
        )


def _display(value: Any, zone: str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def variables_of(data: EventData, zone: str) -> dict[str, str]:
    return {name: _display(getattr(data, name), zone) for name in type(data).model_fields}


def render(content: Content, variables: dict[str, str]) -> tuple[str, str]:
    """Unknown names stay as written (safe_substitute): a message is never lost to a typo."""
    return (
        string.Template(content.title).safe_substitute(variables),
        string.Template(content.body).safe_substitute(variables),
    )


def sample_variables(event_type: str) -> dict[str, str]:
    """Illustrative values for previews."""
    return {name: f"<{name}>" for name in sorted(spec_for(event_type).variables)}
