"""Signing in: the district's OpenID Connect provider in production, development tokens elsewhere.

Either way the session keeps the token the services accept, and every page sends it as the
person's own; the console never holds a token of its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from common.auth import issue_token
from common.authz import NAMED_ROLES
from common.logging import get_logger, scrub
from common.problems import Problem
from console.i18n import LANGUAGES
from console.settings import ConsoleSettings
from console.web import (
    SignInNeeded,
    check_csrf,
    local_path,
    principal_of,
    redirect,
    render,
    settings_of,
    stamp_session,
)

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

NAME_PATTERN = r"^[A-Za-z0-9._-]{1,60}$"
SIGN_IN_ROLES = frozenset({"operator", "station"})
UNIT_PATTERN = r"^[A-Za-z0-9._-]{0,60}$"
# What a failed sign-in says, by the OAuth error code: a closed list of the console's own words.
# The provider's error_description arrives in the callback's URL, which anyone can craft, so it
# is logged and never shown (a phishing sentence on the console's own page otherwise).
FAILURES = {"access_denied": "signin.denied", "mismatching_state": "signin.stale"}

log = get_logger(__name__)


def oidc_client(
    settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None
) -> OAuth | None:
    """The district's provider, registered from its discovery document (Authlib).

    ``transport`` is where Authlib's own HTTP client sends (tests pass a provider's stand-in)."""
    if not settings.oidc_configured:
        return None
    oauth = OAuth()
    secret = settings.oidc_client_secret
    client_kwargs: dict[str, Any] = {"scope": settings.oidc_scope, "code_challenge_method": "S256"}
    if transport is not None:
        client_kwargs["transport"] = transport
    oauth.register(
        name="district",
        server_metadata_url=settings.oidc_metadata_url,
        client_id=settings.oidc_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        client_kwargs=client_kwargs,
    )
    return oauth


def development_token(
    settings: ConsoleSettings, sub: str, roles: list[str], unit: str | None, station: str | None
) -> str:
    """An operator token for the chosen named roles (nothing chosen: no scopes at all); with a
    station, a station staff token for that station instead (its roles do not apply)."""
    if station:
        ttl = timedelta(hours=settings.session_hours)
        return issue_token(settings, role="station", sub=sub, ttl=ttl, station_id=station)
    return issue_token(
        settings,
        role="operator",
        sub=sub,
        roles=roles,
        ttl=timedelta(hours=settings.session_hours),
        **({"unit_id": unit} if unit else {}),
    )


def _start_session(request: Request, token: str, id_token: str | None = None) -> None:
    request.session.pop("token", None)
    principal = principal_of(token)  # names a person, or no session
    if principal.role not in SIGN_IN_ROLES:
        raise Problem(403, "Forbidden", "the console is for operators and station staff")
    request.session["token"] = token
    stamp_session(request)
    if id_token:  # the provider's end-session page wants it back as id_token_hint
        request.session["id_token"] = id_token
    # A new CSRF secret for the signed-in session: one seen before sign-in is worth nothing.
    request.session.pop("csrf", None)


@router.get("/signin", name="signin_page")
async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", roles=list(NAMED_ROLES))


@router.post("/signin/dev")
async def dev_signin(
    request: Request,
    sub: Annotated[str, Form(pattern=NAME_PATTERN)],
    roles: Annotated[list[str] | None, Form()] = None,
    unit: Annotated[str, Form(pattern=UNIT_PATTERN)] = "",
    station: Annotated[str, Form(pattern=UNIT_PATTERN)] = "",
) -> Response:
    settings = settings_of(request)
    if not settings.dev_sign_in:
        raise Problem(403, "Forbidden", "development sign-in is refused in production")
    chosen = [name for name in dict.fromkeys(roles or []) if name in NAMED_ROLES]
    token = development_token(settings, sub, chosen, unit or None, station or None)
    _start_session(request, token)
    return redirect("/")


@router.get("/signin/oidc")
async def oidc_start(request: Request) -> Response:
    oauth: OAuth | None = request.app.state.oidc
    if oauth is None:
        raise Problem(404, "Not Found", "no OpenID Connect provider is configured")
    target = str(request.url_for("oidc_callback"))
    answer: Response = await oauth.district.authorize_redirect(request, target)
    return answer


@router.get("/signin/callback", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    oauth: OAuth | None = request.app.state.oidc
    if oauth is None:
        raise Problem(404, "Not Found", "no OpenID Connect provider is configured")
    try:
        token = await oauth.district.authorize_access_token(request)
        _start_session(request, str(token["access_token"]), token.get("id_token"))
    except (OAuthError, KeyError, Problem, SignInNeeded) as exc:
        return _failed(request, exc)
    return redirect("/")


def _failed(request: Request, exc: Exception) -> Response:
    code = str(getattr(exc, "error", "") or "")
    detail = getattr(exc, "description", None) or getattr(exc, "detail", None) or ""
    log.warning(
        "sign-in refused",
        kind=type(exc).__name__,
        error=scrub(code[:60]),
        detail=scrub(str(detail)[:300]),
    )
    failure = "signin.not_staff" if isinstance(exc, Problem) else FAILURES.get(code)
    return render(request, "signin.html", status=401, roles=[], failure=failure or "signin.failed")


@router.post("/signout")
async def signout(request: Request) -> Response:
    """Clears the console's session; signed in through the provider, also ends the provider's
    session (RP-initiated logout: its ``end_session_endpoint`` with ``id_token_hint`` and
    ``post_logout_redirect_uri``), so the next sign-in asks for the password again."""
    id_token = request.session.get("id_token")
    request.session.clear()
    oauth: OAuth | None = request.app.state.oidc
    if oauth is None or not isinstance(id_token, str):
        return redirect("/signin")
    try:
        metadata = await oauth.district.load_server_metadata()
    except (httpx.HTTPError, ValueError):
        return redirect("/signin")  # the provider is away: the console's session is gone anyway
    endpoint = metadata.get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith("https://"):
        return redirect("/signin")
    params = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": str(request.url_for("signin_page")),
        "client_id": settings_of(request).oidc_client_id or "",
    }
    return RedirectResponse(add_params_to_uri(endpoint, params), status_code=303)


@router.get("/language/{lang}")
async def switch_language(request: Request, lang: str, next: str | None = None) -> Response:
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return redirect(local_path(next))
