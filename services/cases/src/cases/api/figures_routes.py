"""Published figures over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from cases.api.dependencies import CasesDep, Operator
from cases.store.cases import FigureCohort

router = APIRouter(prefix="/v1")


@router.get(
    "/figures",
    tags=["figures"],
    summary="Published figures, each with numerator, denominator and cohort rule",
)
async def figures(
    principal: Operator,
    service: CasesDep,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    unit_id: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    group_by: Literal["unit", "category", "month"] | None = None,
) -> dict[str, Any]:
    cohort = FigureCohort(month=month, unit_id=unit_id, category=category)
    rows = await service.figures.figures(cohort, group_by)
    return {"month": month, "unit_id": unit_id, "category": category, "rows": rows}
