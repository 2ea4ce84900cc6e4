"""Partners domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.problems import problem_response
from partners.domain import (
    ConflictingDuplicate,
    EventRefused,
    NotAPartnerType,
    NotFound,
    OverLimit,
    PartnerChanged,
    PartnerExists,
    PartnerNotFound,
    PartnerNotProvisioned,
    PartnersError,
    PartnerSuspended,
)

URN = "urn:driverhome:partners:"


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    match exc:
        case ConflictingDuplicate():
            return problem_response(
                request, 409, "Conflict", exc.detail, type_=URN + exc.reason, reason=exc.reason
            )
        case EventRefused():
            return problem_response(
                request,
                422,
                "Unprocessable Content",
                exc.detail or exc.reason,
                type_=URN + exc.reason,
                reason=exc.reason,
            )
        case OverLimit():
            answer = problem_response(
                request, 429, "Too Many Requests", str(exc), type_=URN + exc.which
            )
            answer.headers["Retry-After"] = str(exc.retry_after)
            return answer
        case PartnerSuspended():
            return problem_response(
                request,
                403,
                "Forbidden",
                str(exc),
                type_=URN + "partner_suspended",
                reason="partner_suspended",
            )
        case PartnerNotProvisioned():
            answer = problem_response(
                request,
                503,
                "Service Unavailable",
                str(exc),
                type_=URN + "partner_not_provisioned",
                reason="partner_not_provisioned",
            )
            answer.headers["Retry-After"] = "30"
            return answer
        case NotAPartnerType():
            return problem_response(
                request,
                422,
                "Unprocessable Content",
                str(exc),
                errors=[{"loc": ["body", "allowed_types"], "msg": str(exc)}],
            )
        case PartnerNotFound() | NotFound():
            return problem_response(request, 404, "Not Found", str(exc))
        case PartnerExists() | PartnerChanged():
            return problem_response(request, 409, "Conflict", str(exc))
    return problem_response(request, 400, "Bad Request", str(exc))


def install_partners_errors(app: FastAPI) -> None:
    app.add_exception_handler(PartnersError, _on_domain_error)
