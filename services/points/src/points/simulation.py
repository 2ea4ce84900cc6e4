"""The rule simulator: what an earning event would earn a driver now, and why.

It takes the steps the real award takes, with the same code and nothing written: the driver's
``points`` consent (``EarningConsent.require``), the event's time against the accepted window
(``PointsService.too_old``), the rule choice and the points asked (``PointsService.decide``,
the rule cache included), then the award's plan on the account as it stands (``plan_for``: the
rule's daily and monthly caps) and the grade the account would then have (``account_after``,
``assess``). Only the station threshold for activity attendance is read rather than taken
(``StationAwards.has_room``): taking a slot is a write.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from common.events import DOMAIN_EVENTS, PARTNER_EVENTS, CloudEvent, EventData, InvalidEvent
from common.events import parse_data as parse_event_data
from common.events.mutual_help import HelpCompleted
from common.events.points import Grade
from points.consents import EarningConsent
from points.domain import AccountNotActive, PointsError, month_of
from points.earning import Earning, EventInFuture, RuleDecision
from points.effects import account_after
from points.grades import assess
from points.handlers.earning import helping
from points.plans import cap_keys, plan_for
from points.rules import EARNING_TYPES, Rule
from points.service import ACTIVITY_TYPE, PointsService
from points.store.accounts import account_of

Outcome = Literal[
    "awarded", "capped", "no_rule", "nothing_asked", "held_for_review", "parked", "refused"
]
SOURCE = "driverhome/points-simulator"


class NotSimulable(PointsError):
    """The event type earns nothing, or its data is not what the type requires."""


@dataclass(frozen=True)
class Candidate:
    """A rule in force for the event's type, and why it does not apply (None: it does)."""

    rule: Rule
    why_not: str | None


@dataclass(frozen=True)
class CapUse:
    """What the driver already earned under the chosen rule in the day and month the award
    would count in (the ledger's clock, not the event's)."""

    day: str
    month: str
    earned_today: int
    earned_this_month: int


@dataclass(frozen=True)
class Simulation:
    driver_id: str
    event_type: str
    occurred_at: datetime
    evaluated_at: datetime
    outcome: Outcome
    points: int
    reason: str
    rule: Rule | None = None
    asked: int = 0
    requested: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    caps: CapUse | None = None
    balance: int | None = None
    grade: Grade | None = None
    grade_after: Grade | None = None
    grade_reasons: list[str] = field(default_factory=list)


def _model_of(event_type: str) -> tuple[type[EventData], bool]:
    """The event's data model, and whether it arrives from partners (domain types first: a
    kiosk's partner service.used.v1 earns only as stations re-announces it)."""
    for models in DOMAIN_EVENTS.values():
        if event_type in models:
            return models[event_type], False
    if event_type in PARTNER_EVENTS:
        return PARTNER_EVENTS[event_type], True
    raise NotSimulable(f"{event_type} is not an event type")


class Simulator:
    def __init__(self, service: PointsService, consent: EarningConsent) -> None:
        self._service = service
        self._consent = consent

    async def simulate(
        self,
        event_type: str,
        data: dict[str, Any],
        driver_id: str,
        occurred_at: datetime | None = None,
    ) -> Simulation:
        if event_type not in EARNING_TYPES:
            raise NotSimulable(f"{event_type} earns no points")
        model, partner = _model_of(event_type)
        now = self._service.ledger_clock()
        try:
            event = CloudEvent(
                id=f"simulation-{uuid.uuid4().hex}",
                source=SOURCE,
                type=event_type,
                subject=driver_id,
                time=occurred_at or now,
                data=data,
            )
            parsed = parse_event_data(event, model)
        except ValidationError as exc:
            raise NotSimulable("the driver id or the time is not valid") from exc
        except InvalidEvent as exc:
            raise NotSimulable(f"the event would be dead-lettered: {exc}") from exc
        base = Simulation(
            driver_id=driver_id,
            event_type=event_type,
            occurred_at=event.time,
            evaluated_at=now,
            outcome="refused",
            points=0,
            reason="",
        )
        earner = await _as_received(event, parsed)
        if earner is None:
            return replace(base, reason="only a helper who is a driver earns for mutual help")
        base = replace(base, driver_id=earner.subject)
        try:
            await self._consent.require(earner)
        except InvalidEvent as exc:
            return replace(base, reason=f"{exc.reason}: {exc.detail}")
        return await self._judge(base, Earning.of(earner, partner=partner), now)

    async def _judge(self, base: Simulation, earning: Earning, now: datetime) -> Simulation:
        try:
            too_old = self._service.too_old(earning, now)
        except EventInFuture as exc:
            return replace(base, reason=f"{exc.code}: {exc.message}")
        decision = await self._service.decide(earning)
        explained = _explained(base, decision, earning)
        held = await self._held_because(earning, now, too_old=too_old)
        if held is not None:
            return replace(explained, outcome="held_for_review", points=0, reason=held)
        if decision.rule is None:
            return replace(explained, outcome="no_rule", reason="no rule in force matches")
        if decision.award is None:
            reason = f"rule {decision.rule.rule_id} asks no points for this event's data"
            return replace(explained, outcome="nothing_asked", reason=reason)
        return await self._on_account(explained, decision, now)

    async def _held_because(self, earning: Earning, now: datetime, *, too_old: bool) -> str | None:
        """Why the real path would hold the event for review (as ``PointsService._admit``)."""
        service = self._service
        if service.review is None:
            return None
        if too_old:
            return f"dated more than {service.window.max_age.days} days ago: held for review"
        awards = service.station_awards
        if earning.event_type == ACTIVITY_TYPE and awards is not None:
            station = str(earning.data.get("station_id") or "")
            if not await awards.has_room(station, month_of(now), earning.key):
                return "the station's monthly threshold of credited attendances is reached: held"
        return None

    async def _on_account(
        self, explained: Simulation, decision: RuleDecision, now: datetime
    ) -> Simulation:
        award = decision.award
        assert award is not None  # the caller checked
        doc = await self._service.accounts.raw(explained.driver_id)
        if doc is None:
            reason = "the driver has no points account yet: the event waits (parked) for it"
            return replace(explained, outcome="parked", reason=reason)
        account = account_of(doc)
        day_key, month_key = cap_keys(award)
        caps = doc.get("caps", {})
        used = CapUse(
            day=day_key.partition("@")[2],
            month=month_key.partition("@")[2],
            earned_today=int(caps.get(day_key, 0)),
            earned_this_month=int(caps.get(month_key, 0)),
        )
        simulated = replace(explained, caps=used, balance=account.balance, grade=account.grade)
        try:
            effect = plan_for(award)(account, doc)
        except AccountNotActive as exc:
            reason = f"the account is {exc.status}: the event waits (parked) until it is active"
            return replace(simulated, outcome="parked", reason=reason)
        if isinstance(effect, str):
            return replace(simulated, outcome="capped", reason=effect)
        assessment = assess(account_after(account, effect), self._service.grades, month_of(now))
        reason = f"rule {award.rule_id} v{award.rule_version} awards {effect.amount}"
        if effect.amount < simulated.requested:
            reason += f" (cut from {simulated.requested} by the rule's cap)"
        return replace(
            simulated,
            outcome="awarded",
            points=effect.amount,
            reason=reason,
            grade_after=assessment.grade,
            grade_reasons=assessment.reasons,
        )


def _explained(base: Simulation, decision: RuleDecision, earning: Earning) -> Simulation:
    moment, kind = earning.occurred_at, decision.kind
    candidates = [
        Candidate(r, r.why_not(earning.event_type, earning.data, moment, kind))
        for r in decision.rules
        if r.event_type == earning.event_type
    ]
    requested = int(decision.award.detail["requested"]) if decision.award else 0
    return replace(
        base,
        rule=decision.rule,
        asked=decision.asked,
        requested=requested,
        candidates=candidates,
    )


async def _as_received(event: CloudEvent, data: EventData) -> CloudEvent | None:
    """The event as the earning handler gets it: a mutual help earns for its helper."""
    received: list[CloudEvent] = []

    async def keep(arrived: CloudEvent, _: EventData) -> None:
        received.append(arrived)

    handler: Callable[[CloudEvent, EventData], Awaitable[None]] = keep
    if event.type == HelpCompleted.event_type:
        handler = helping(keep)
    await handler(event, data)
    return received[0] if received else None
