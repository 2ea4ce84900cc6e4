"""Points errors that can surface from any route, as problem+json."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.problems import problem_response
from points.ledger import ConflictingEntry, LedgerContention


def install_points_errors(app: FastAPI) -> None:
    async def on_contention(request: Request, exc: Exception) -> JSONResponse:
        answer = problem_response(
            request, 503, "Service Unavailable", "the account is busy; retry shortly"
        )
        answer.headers["Retry-After"] = "1"
        return answer

    async def on_conflict(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 409, "Conflict", str(exc) or "conflicting request")

    app.add_exception_handler(LedgerContention, on_contention)
    app.add_exception_handler(ConflictingEntry, on_conflict)
