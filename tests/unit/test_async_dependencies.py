"""No request waits for a worker thread to fetch a service object: FastAPI runs a plain ``def``
dependency in its thread pool, a hand-off and back on every request that took a few percent of
the registry's search time (issue 19). Every dependency of every route of every app is
``async`` (they only read ``app.state``, the session or the token, so none blocks)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _is_async_gen_callable, _is_coroutine_callable
from fastapi.routing import APIRoute

from console.settings import ConsoleSettings
from tests.service_apps import SETTINGS, settings_class

APPS = [*SETTINGS, "console"]


def _routes(router: Any) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        # An included router keeps its own routes (FastAPI's _IncludedRouter).
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner)


def _sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (_is_coroutine_callable(call) or _is_async_gen_callable(call)):
            yield f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)}"
        yield from _sync_dependencies(sub)


def _app(service: str) -> FastAPI:
    factory = importlib.import_module(f"{service}.app").create_app
    if service == "console":
        app: FastAPI = factory(ConsoleSettings())
    else:
        app = factory(settings_class(service)())
    return app


@pytest.mark.parametrize("service", APPS)
def test_every_route_dependency_is_async(service: str) -> None:
    routes = list(_routes(_app(service)))
    assert len(routes) > 10, "the walk found the app's routes"
    found = {name for route in routes for name in _sync_dependencies(route.dependant)}
    assert not found, f"{service}: run in the thread pool on each request: {sorted(found)}"


def test_the_check_sees_a_plain_def_dependency() -> None:
    from fastapi import Depends

    def plain() -> int:
        return 1

    app = FastAPI()

    @app.get("/x")
    async def x(value: int = Depends(plain)) -> int:
        return value

    names = [n for r in _routes(app) for n in _sync_dependencies(r.dependant)]
    assert names == [f"{__name__}.test_the_check_sees_a_plain_def_dependency.<locals>.plain"]
