"""HTTP for the rule simulator: what an earning event would earn a driver now, and why.

Readers of points (``points:read``: points admins and auditors) may ask it: it shows what the
rules in force and the driver's ledger already show them, and writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from common.auth import Principal
from common.authz import require_scope
from common.events.points import Grade
from common.schemas import AwareInstant, Code, RequestModel
from points.simulation import Candidate, CapUse, Outcome, Simulation, Simulator

router = APIRouter(prefix="/v1", tags=["rules"])

PointsReader = Annotated[Principal, Depends(require_scope("points:read"))]


async def _simulator(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


class SimulationRequest(RequestModel):
    event_type: Code = Field(max_length=100, examples=["volunteer.logged.v1"])
    driver_id: Code = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(
        default_factory=dict,
        max_length=50,
        description="The event's data as a sender would put it on Kafka",
        examples=[{"activity": "港区道路清洁", "hours": 3}],
    )
    occurred_at: AwareInstant | None = Field(
        default=None, description="The event's time (chooses the rule); absent: now"
    )


class CandidateView(BaseModel):
    rule_id: str
    version: int
    name: str
    priority: int
    applies: bool
    why_not: str | None

    @classmethod
    def of(cls, candidate: Candidate) -> CandidateView:
        rule = candidate.rule
        return cls(
            rule_id=rule.rule_id,
            version=rule.version,
            name=rule.name,
            priority=rule.priority,
            applies=candidate.why_not is None,
            why_not=candidate.why_not,
        )


class ChosenRuleView(BaseModel):
    rule_id: str
    version: int
    name: str
    cap_per_day: int | None
    cap_per_month: int | None
    max_per_event: int


class SimulationView(BaseModel):
    """The answer: points, the rule that decided, the caps and what was already earned under
    them, the rules considered with why each did not apply, and why nothing is earned if so."""

    driver_id: str = Field(description="Who would earn (a mutual help's helper)")
    event_type: str
    occurred_at: datetime
    evaluated_at: datetime = Field(description="Points' clock: caps count in its day and month")
    outcome: Outcome
    points: int
    reason: str
    rule: ChosenRuleView | None
    asked: int = Field(description="What the rule asks for the event's data")
    requested: int = Field(description="After the rule's maximum per event")
    caps: CapUse | None
    candidates: list[CandidateView]
    balance: int | None
    balance_after: int | None
    grade: Grade | None
    grade_after: Grade | None
    grade_reasons: list[str]

    @classmethod
    def of(cls, simulation: Simulation) -> SimulationView:
        rule = simulation.rule
        chosen = None
        if rule is not None:
            chosen = ChosenRuleView(
                rule_id=rule.rule_id,
                version=rule.version,
                name=rule.name,
                cap_per_day=rule.cap_per_day,
                cap_per_month=rule.cap_per_month,
                max_per_event=rule.max_per_event,
            )
        balance = simulation.balance
        return cls(
            driver_id=simulation.driver_id,
            event_type=simulation.event_type,
            occurred_at=simulation.occurred_at,
            evaluated_at=simulation.evaluated_at,
            outcome=simulation.outcome,
            points=simulation.points,
            reason=simulation.reason,
            rule=chosen,
            asked=simulation.asked,
            requested=simulation.requested,
            caps=simulation.caps,
            candidates=[CandidateView.of(c) for c in simulation.candidates],
            balance=balance,
            balance_after=None if balance is None else balance + simulation.points,
            grade=simulation.grade,
            grade_after=simulation.grade_after,
            grade_reasons=simulation.grade_reasons,
        )


@router.post(
    "/rules/simulate",
    response_model=SimulationView,
    summary="What an earning event would earn a driver now, and why (nothing is written)",
    description="Runs the real award's steps on the driver's account as it stands: consent, "
    "the accepted event times, the rule choice (priority, validity, conditions, driver kind), "
    "the rule's maximum per event and daily/monthly caps, and the grade after. An event type "
    "that earns nothing, or data its type refuses, answers 422.",
)
async def simulate(
    body: SimulationRequest,
    _: PointsReader,
    simulator: Annotated[Simulator, Depends(_simulator)],
) -> SimulationView:
    simulation = await simulator.simulate(
        body.event_type, body.data, body.driver_id, body.occurred_at
    )
    return SimulationView.of(simulation)
