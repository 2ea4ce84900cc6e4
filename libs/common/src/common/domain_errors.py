"""Domain errors as problem+json: one base, one installer, a status table per service.

The domain rules raise subclasses of :class:`DomainError` and know nothing of HTTP. Each
service states once which status each of its errors answers with (``{error class: status}``;
the nearest class in the error's ancestry wins) and installs that table on its app. The body is
the RFC 9457 problem of ``common.problems``; what an error adds to it (a ``type`` URI, members
such as ``code`` or ``reason``, headers such as ``Retry-After``) is part of the public
contract, so it is declared on the error class, next to the error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from common.problems import on_exception, problem_response

# RFC 9110's names; Python 3.11's HTTPStatus still calls 422 "Unprocessable Entity".
TITLES: dict[int, str] = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Content",
    423: "Locked",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class DomainError(Exception):
    """A refusal by the domain rules; ``code`` is machine-readable, ``message`` for people."""

    code = "domain_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def problem_detail(self) -> str:
        return self.message

    @property
    def problem_type(self) -> str:
        return "about:blank"

    def problem_members(self) -> dict[str, Any]:
        """Members the problem body carries besides the standard ones."""
        return {}

    def problem_headers(self) -> dict[str, str]:
        return {}


StatusTable = Mapping[type[DomainError], int]


class PartnerSuspendedRefusal(DomainError):
    """A suspended partner's request, answered alike by every service that refuses it (the
    partners gateway's type and ``reason``), so a partner's software reads one answer. A
    service's own error derives from this and from the service's error base."""

    reason = "partner_suspended"

    def __init__(self, partner_id: str) -> None:
        super().__init__(f"partner {partner_id!r} is suspended")

    @property
    def problem_type(self) -> str:
        return "urn:driverhome:partners:partner_suspended"

    def problem_members(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass(frozen=True)
class ErrorTable:
    """A service's domain errors (``base`` and below) and the status each answers with;
    ``default`` for an error the table does not name. Given to ``create_service_app``."""

    base: type[DomainError]
    statuses: StatusTable
    default: int


def status_of(error: DomainError, statuses: StatusTable, default: int) -> int:
    for cls in type(error).__mro__:
        if cls in statuses:
            return statuses[cls]
    return default


def title_of(status: int) -> str:
    return TITLES.get(status) or HTTPStatus(status).phrase


def domain_problem(
    request: Request, error: DomainError, statuses: StatusTable, default: int
) -> JSONResponse:
    status = status_of(error, statuses, default)
    answer = problem_response(
        request,
        status,
        title_of(status),
        error.problem_detail,
        type_=error.problem_type,
        **error.problem_members(),
    )
    answer.headers.update(error.problem_headers())
    return answer


def install_domain_errors(
    app: FastAPI, base: type[DomainError], statuses: StatusTable, *, default: int
) -> None:
    """Answer every ``base`` error raised in a request by its status in ``statuses``."""

    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        return domain_problem(request, exc, statuses, default)

    on_exception(app, base, on_domain_error)
