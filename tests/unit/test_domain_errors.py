"""Domain errors answer as problem+json by the nearest class in a service's status table."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from common.domain_errors import DomainError, install_domain_errors


class ShopError(DomainError):
    code = "shop_error"

    def problem_members(self) -> dict[str, Any]:
        return {"code": self.code}


class Missing(ShopError):
    code = "missing"


class MissingShelf(Missing):
    code = "missing_shelf"


class Busy(ShopError):
    code = "busy"

    @property
    def problem_type(self) -> str:
        return "urn:example:busy"

    def problem_headers(self) -> dict[str, str]:
        return {"Retry-After": "7"}


def _app() -> FastAPI:
    app = FastAPI()
    errors: dict[str, ShopError] = {
        "shelf": MissingShelf("no such shelf"),
        "busy": Busy("try later"),
        "other": ShopError("refused", code="closed"),
    }

    @app.get("/{which}")
    async def fail(which: str) -> None:
        raise errors[which]

    install_domain_errors(app, ShopError, {Missing: 404, Busy: 503}, default=409)
    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_a_subclass_answers_with_the_status_of_its_nearest_listed_ancestor() -> None:
    answer = await _get("/shelf")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "instance": "/shelf",
        "detail": "no such shelf",
        "code": "missing_shelf",
    }


async def test_an_error_adds_its_type_and_headers() -> None:
    answer = await _get("/busy")
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "7")
    assert answer.json()["type"] == "urn:example:busy"
    assert answer.json()["title"] == "Service Unavailable"


async def test_an_unlisted_error_takes_the_default_and_its_instance_code() -> None:
    answer = await _get("/other")
    assert answer.status_code == 409
    assert (answer.json()["title"], answer.json()["code"]) == ("Conflict", "closed")
