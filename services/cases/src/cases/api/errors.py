"""Cases domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cases.calendar import CalendarYearNotLoaded
from cases.domain import CaseError
from common.problems import problem_response


async def _on_case_error(request: Request, exc: Exception) -> JSONResponse:
    # Each domain error carries the status and title it answers with.
    if isinstance(exc, CaseError):
        return problem_response(request, exc.status, exc.title, str(exc))
    return problem_response(request, 422, "Unprocessable Content", str(exc))


async def _on_calendar(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, 500, "Calendar Not Loaded", str(exc))


def install_case_errors(app: FastAPI) -> None:
    app.add_exception_handler(CaseError, _on_case_error)
    app.add_exception_handler(CalendarYearNotLoaded, _on_calendar)
