"""What every cases router depends on: who calls, the use cases, and the case views.

Which case a caller may see is decided by the use cases (``cases.access``); domain errors
become problems in ``cases.api.errors``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cases.api.schemas import CaseView
from cases.case import Case
from cases.service import Cases
from common.auth import Principal, current_principal, require_roles

Caller = Annotated[Principal, Depends(current_principal)]
Operator = Annotated[Principal, Depends(require_roles("operator"))]


async def _cases(request: Request) -> Cases:
    cases: Cases = request.app.state.cases
    return cases


CasesDep = Annotated[Cases, Depends(_cases)]


def view(principal: Principal, case: Case) -> CaseView:
    """A case as this caller sees it: a respondent without the driver's consent sees less."""
    return CaseView.of(case.doc, for_respondent=principal.role == "partner")
