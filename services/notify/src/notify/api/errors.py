"""Notify domain errors as problem+json: each route names what was not found; invalid input
is a 422 naming the field, like FastAPI's own validation errors.
"""

from __future__ import annotations

from typing import Any

from common.problems import Problem


def unprocessable(message: str, field: str, **extra: Any) -> Problem:
    return Problem(
        422,
        "Unprocessable Content",
        message,
        extra={"errors": [{"loc": ["body", field], "msg": message}], **extra},
    )


def not_found(what: str) -> Problem:
    return Problem(404, "Not Found", f"no such {what}")


def conflict(message: str) -> Problem:
    return Problem(409, "Conflict", message)
