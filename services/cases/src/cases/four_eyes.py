"""Four eyes in cases (``common.approvals``): goodwill compensation of more than
``goodwill_approval_threshold`` points is granted only once a second supervisor
(``cases:supervise``, another person) approves what the first one proposed.

The grant records who proposed and who approved it, so a run repeated after a crash finds it
granted and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.compensation import Compensations
from cases.domain import CaseError
from common.approvals import ApprovalRequest, Area, CommandRefused, ScopeChecker

GOODWILL = "goodwill"


def cases_areas(compensations: Compensations) -> list[Area]:
    async def grant(request: ApprovalRequest) -> Mapping[str, Any]:
        command = request.command
        try:
            case = await compensations.grant_approved(
                command["case_id"],
                command["kind"],
                int(command["amount"]),
                proposed_by=request.maker,
                approved_by=request.checker or "",
            )
        except CaseError as exc:
            raise CommandRefused(exc.message or type(exc).__name__) from exc
        compensation_id = f"{case.id}:{command['kind']}"
        return {"case_id": case.id, "compensation_id": compensation_id, "amount": command["amount"]}

    return [Area(GOODWILL, ScopeChecker("cases:supervise"), grant)]
