"""What every page shares: the session's person, CSRF, language, security headers, rendering."""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jwt
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from common.auth import Principal
from common.problems import Problem
from common.settings import DISTRICT_TIMEZONE
from console.apis import Api
from console.i18n import LANGUAGES, translate
from console.roles import Person
from console.settings import ConsoleSettings

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def district_time(value: object, zone: str = DISTRICT_TIMEZONE) -> str:
    """An API's ISO timestamp as the district's wall clock (staff read local time)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


TEMPLATES.env.filters["local"] = district_time

# Only the app's own files: no inline script or style, no other origin, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: ConsoleSettings) -> str:
    """The policy plus what the settings add: the map's tile server (img-src), and the identity
    provider (form-action: signing out POSTs here and is redirected to its end-session page,
    which Chromium checks against form-action too)."""
    policy = CSP
    if settings.map_tile_url:
        tiles = origin(settings.map_tile_url)
        policy = policy.replace("img-src 'self' data:", f"img-src 'self' data: {tiles}")
    if settings.oidc_metadata_url:
        provider = origin(settings.oidc_metadata_url)
        policy = policy.replace("form-action 'self'", f"form-action 'self' {provider}")
    return policy


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        policy = content_security_policy(settings_of(request))
        for name, value in {**SECURITY_HEADERS, "Content-Security-Policy": policy}.items():
            if name == "Cache-Control" and request.url.path.startswith("/static/"):
                continue
            response.headers.setdefault(name, value)
        return response


class SignInNeeded(Exception):
    """No session, or its token expired: the person is sent to the sign-in page."""


def settings_of(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


def csrf_token(request: Request) -> str:
    """The session's CSRF secret, made on first use (the sign-in page's form needs one too)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every state-changing request carries the session's CSRF token (form field or header)."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        field = form.get("csrf")
        sent = field if isinstance(field, str) else None
    if not (isinstance(expected, str) and sent and hmac.compare_digest(expected, sent)):
        raise Problem(403, "Forbidden", "the form's CSRF token is missing or stale: reload")


def language(request: Request) -> str:
    chosen = request.session.get("lang")
    return chosen if chosen in LANGUAGES else settings_of(request).default_language


def principal_of(token: str) -> Principal:
    """Who a session's token names, read without verifying its signature.

    The token came from the sign-in itself (issued here, or from the provider's token endpoint)
    and sits in a signed session cookie the browser cannot alter; the services verify it on
    every call. Reading it here only decides what the pages show."""
    try:
        # Expiry still counts (PyJWT skips it with the signature unless asked): an expired
        # token ends the session here rather than as a 401 from every service.
        claims = jwt.decode(
            token,
            options={"verify_signature": False, "verify_exp": True, "require": ["sub", "exp"]},
        )
        return Principal.model_validate(claims)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise SignInNeeded from exc


def stamp_session(request: Request) -> None:
    """When the session began (UTC epoch seconds), kept in the session itself.

    The cookie's own max-age restarts whenever the session is rewritten (a language switch, a
    new CSRF secret), so it cannot bound a session's life; this stamp does."""
    request.session["issued_at"] = int(time.time())


def session_current(request: Request) -> bool:
    """Begun less than ``session_hours`` ago; a session without its start is not current."""
    issued = request.session.get("issued_at")
    if not isinstance(issued, int):
        return False
    return time.time() - issued < settings_of(request).session_hours * 3600


async def current_person(request: Request) -> Person:
    token = request.session.get("token")
    if not isinstance(token, str):
        raise SignInNeeded
    try:
        if not session_current(request):
            raise SignInNeeded
        return Person(principal_of(token))
    except SignInNeeded:
        request.session.pop("token", None)
        request.session.pop("issued_at", None)
        raise


CurrentPerson = Annotated[Person, Depends(current_person)]


async def api_for(request: Request, person: CurrentPerson) -> Api:
    del person  # signed in is the precondition; the session's token is what is sent
    return Api(request.app.state.http, settings_of(request), request.session["token"])


PersonApi = Annotated[Api, Depends(api_for)]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    person = context.pop("person", None)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "person": person,
            "lang": lang,
            "t": lambda key, **values: translate(lang, key, **values),
            "csrf": csrf_token(request),
            "settings": settings_of(request),
            # An HTMX request gets the page's content alone, to swap into the page it came from.
            "layout": "fragment.html" if request.headers.get("hx-request") else "base.html",
            **context,
        },
        status_code=status,
    )


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def local_path(target: str | None, default: str = "/") -> str:
    """Only a path on this site (never //host or a scheme) is a place to go back to."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
