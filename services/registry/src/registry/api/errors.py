"""Registry domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.problems import problem_response
from registry.domain import Conflict, InvalidDriverData, NotFound, RegistryError


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    match exc:
        case InvalidDriverData():
            return problem_response(
                request,
                422,
                "Unprocessable Content",
                exc.message,
                errors=[{"loc": ["body", exc.field], "msg": exc.message}],
            )
        case NotFound():
            return problem_response(request, 404, "Not Found", str(exc))
        case Conflict():
            return problem_response(
                request, 409, "Conflict", exc.message, type_=f"urn:driverhome:registry:{exc.code}"
            )
    return problem_response(request, 400, "Bad Request", str(exc))


def install_registry_errors(app: FastAPI) -> None:
    app.add_exception_handler(RegistryError, _on_domain_error)
