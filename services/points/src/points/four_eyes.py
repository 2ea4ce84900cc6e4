"""Four eyes in points (``common.approvals``): what a second person must approve.

- ``adjustment``: a manual adjustment larger than ``adjustment_approval_threshold`` points
  (either sign); a second operator with ``points:approve`` approves it.
- ``earning_rule``: every new version of an earning rule; a second operator with
  ``rules:manage`` approves it.
- ``redemption``: a reward an operator reserves for a driver; the driver confirms it with their
  own token (or refuses it). An operator never spends a driver's points alone.

Each command keys its effect by the approval id, so a run repeated after a crash is a no-op:
the adjustment's entry id derives from it, the rule version records it, the reservation uses it
as its request key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.approvals import ApprovalRequest, Area, CommandRefused, DriverConfirms, ScopeChecker
from points.domain import PointsError
from points.mall import Mall
from points.rules import RuleSpec
from points.service import PointsService

ADJUSTMENT = "adjustment"
EARNING_RULE = "earning_rule"
REDEMPTION = "redemption"


def points_areas(service: PointsService, mall: Mall) -> list[Area]:
    async def adjust(request: ApprovalRequest) -> Mapping[str, Any]:
        command = request.command
        try:
            entry = await service.adjust(
                command["driver_id"],
                int(command["amount"]),
                operator=request.maker,
                reason=command["reason"],
                sanction=bool(command.get("sanction")),
                request_id=request.approval_id,
                approved_by=request.checker,
            )
        except PointsError as exc:
            raise CommandRefused(str(exc)) from exc
        if entry.state == "rejected":
            raise CommandRefused(str(entry.detail.get("rejected", "not applied")))
        return {"entry_id": entry.entry_id, "amount": entry.amount, "state": entry.state}

    async def add_rule(request: ApprovalRequest) -> Mapping[str, Any]:
        rule_id = request.command["rule_id"]
        spec = RuleSpec.model_validate(request.command["spec"])
        rule = await service.rules.add_version(
            rule_id, spec, request.maker, approval_id=request.approval_id
        )
        if rule is None:
            raise CommandRefused("another version was saved at the same time; propose again")
        service.forget_rule_cache()
        return {"rule_id": rule.rule_id, "version": rule.version}

    async def reserve(request: ApprovalRequest) -> Mapping[str, Any]:
        command = request.command
        try:
            reservation = await mall.reserve(
                command["driver_id"],
                command["reward_id"],
                request_key=request.approval_id,
                counter_id=command.get("counter_id"),
            )
        except PointsError as exc:
            raise CommandRefused(str(exc)) from exc
        redemption = reservation.redemption
        if redemption.state == "failed":
            raise CommandRefused(f"the reward was not reserved: {redemption.failure}")
        # No collection code here: the driver asks for one (POST /v1/redemptions/{id}/code).
        return {
            "redemption_id": redemption.redemption_id,
            "reward_id": redemption.reward_id,
            "state": redemption.state,
        }

    return [
        Area(ADJUSTMENT, ScopeChecker("points:approve"), adjust),
        Area(EARNING_RULE, ScopeChecker("rules:manage"), add_rule),
        Area(REDEMPTION, DriverConfirms(), reserve),
    ]
