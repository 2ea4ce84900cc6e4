"""The operator console: server-rendered pages (Jinja2 + HTMX) over the services' public APIs.

It has no store: sessions are signed cookies holding the person's token, and every page calls
the services with that token, so the console can show or do nothing the person could not.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from common.webapp import create_service_app
from console import signin
from console.pages import (
    broadcasts,
    cases,
    drivers,
    home,
    operations,
    partners,
    points,
    programme,
    rules,
    stations,
)
from console.settings import ConsoleSettings
from console.web import TEMPLATES, SecurityHeaders, SignInNeeded, district_time, redirect

STATIC = Path(__file__).parent / "static"
API_DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/docs-assets", "/redoc", "/openapi.json"})


def create_app(
    settings: ConsoleSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            timeout=settings.api_timeout_seconds, transport=transport
        ) as http:
            app.state.http = http
            yield

    app = create_service_app(
        settings,
        title="driverhome console",
        description="The operator console (HTML pages; no API of its own)",
        lifespan=lifespan,
        routers=[
            signin.router,
            home.router,
            drivers.router,
            points.router,
            rules.router,
            cases.router,
            broadcasts.router,
            programme.router,
            stations.router,
            partners.router,
            operations.router,
        ],
    )
    # HTML pages, no API of its own: no OpenAPI document or Swagger page to offer.
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", "") not in API_DOCS
    ]
    # httpx logs every call's full URL at INFO: a search's query (a name prefix, a plate) is
    # personal data and stays out of the logs (handbook section 5).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app.state.oidc = signin.oidc_client(settings, transport)
    TEMPLATES.env.filters["local"] = partial(district_time, zone=settings.district_timezone)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    # Signed (itsdangerous), HttpOnly always; Secure and SameSite=Lax: Lax so the provider's
    # redirect back (a top-level GET from another site) still carries the OIDC state. The
    # cookie's max_age restarts at each rewrite: the session's life is bounded by the issued_at
    # it holds (web.session_current), not by this.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie="driverhome_console",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.cookie_secure,
    )

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, exc: SignInNeeded) -> Response:
        return redirect("/signin")

    return app
