"""RFC 9457 problem details: every error answer has this shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

X = TypeVar("X", bound=Exception)


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        type_: str = "about:blank",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra or {}


def _encodable(text: str) -> str:
    # A field name may hold a lone surrogate, which UTF-8 (the answer's encoding) cannot carry.
    return text.encode("utf-8", "replace").decode("utf-8")


def problem_response(
    request: Request, status: int, title: str, detail: str = "", **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": extra.pop("type_", "about:blank"),
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def on_exception(
    app: FastAPI, cls: type[X], answer: Callable[[Request, X], Awaitable[Response]]
) -> None:
    """Answer every ``cls`` raised in a request with ``answer``, which takes it as that class
    (Starlette types its handlers for any exception)."""

    async def handler(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, cls):  # registered for ``cls`` only
            raise exc
        return await answer(request, exc)

    app.add_exception_handler(cls, handler)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Problem) -> Response:
        return problem_response(
            request, exc.status, exc.title, exc.detail, type_=exc.type, **exc.extra
        )

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        # Locations and messages only: the rejected input may be a national ID or phone.
        errors = [
            {"loc": [_encodable(str(p)) for p in err.get("loc", ())], "msg": _encodable(err["msg"])}
            for err in exc.errors()
        ]
        return problem_response(
            request, 422, "Unprocessable Content", "the request is not valid", errors=errors
        )

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(request, exc.status_code, str(exc.detail))

    async def on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The store is away (failover, restart): a retry later will succeed.
        answer = problem_response(
            request, 503, "Service Unavailable", "the store is temporarily unavailable"
        )
        answer.headers["Retry-After"] = "5"
        return answer

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 500, "Internal Server Error", "see logs for request_id")

    on_exception(app, Problem, on_problem)
    on_exception(app, RequestValidationError, on_validation)
    on_exception(app, StarletteHTTPException, on_http)
    app.add_exception_handler(ConnectionFailure, on_store_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
