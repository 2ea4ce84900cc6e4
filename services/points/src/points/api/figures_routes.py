"""The district's points figures of a day (the console's home page): operators with points:read."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from common.auth import Principal
from common.authz import require_scope
from common.problems import Problem
from points.figures import DayFigures, Figures

router = APIRouter(prefix="/v1")

# A day's bounds are instants in the district's zone: the calendar's edges would overflow them.
FIRST, LAST = date(1970, 1, 2), date(9998, 12, 31)

# District-wide totals name no driver, but only readers of every account may see them.
Reader = Annotated[Principal, Depends(require_scope("points:read"))]


async def _figures(request: Request) -> Figures:
    figures: Figures = request.app.state.figures
    return figures


@router.get(
    "/figures/day",
    response_model=DayFigures,
    tags=["figures"],
    summary="Points awarded (by cause), redeemed and expired on a day in the district's zone",
)
async def day_figures(
    _: Reader,
    figures: Annotated[Figures, Depends(_figures)],
    day: Annotated[
        date | None, Query(description="YYYY-MM-DD in the district's zone; today if absent")
    ] = None,
) -> DayFigures:
    if day is not None and not FIRST <= day <= LAST:
        raise Problem(422, "Unprocessable Content", f"day must lie between {FIRST} and {LAST}")
    return await figures.of_day(day)
