"""Bearer-token authentication and role checks (handbook section 4).

``python -m common.auth --role operator`` prints a development token on its last line (refused
in production, where only the identity provider issues tokens).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Protocol

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError

from common.dev_issuer import ALL_AUDIENCES, dev_issuer
from common.named_roles import FULL_OPERATOR_ROLES, NAMED_ROLES, scopes_of_roles
from common.problems import Problem
from common.request_limits import admit_principal
from common.settings import ServiceSettings
from common.tokens import TokenVerifier

Role = Literal["operator", "station", "partner", "driver"]
ROLES: tuple[Role, ...] = ("operator", "station", "partner", "driver")


class Principal(BaseModel):
    """Who is calling, from the token's claims."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: str
    role: Role
    scope: str = ""
    # Named operator roles (common.authz); they grant scopes to operators only.
    roles: tuple[str, ...] = ()
    station_id: str | None = None
    partner_id: str | None = None
    driver_id: str | None = None
    # The registry person an operator is (a branch secretary, issue 17): what they hold in the
    # organisation tree decides whose party-life figures they read (cases).
    person_id: str | None = None
    # The handling unit an operator works in (cases service); absent for everyone else.
    unit_id: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        granted = frozenset(self.scope.split())
        if self.role != "operator":
            return granted
        return granted | scopes_of_roles(self.roles)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> str:
        """Who acted, as records keep it: a driver by their driver id, which an erasure finds
        and replaces with the pseudonym; anyone else by the token's subject. A driver's subject
        names their account at the identity provider (it may be their phone number), and no
        service could find it again to erase it."""
        if self.role == "driver" and self.driver_id:
            return self.driver_id
        return self.sub


def issue_token(
    settings: ServiceSettings,
    *,
    role: Role,
    sub: str | None = None,
    scope: str = "",
    roles: Sequence[str] | None = None,
    ttl: timedelta = timedelta(hours=12),
    audience: Sequence[str] | None = None,
    **claims: str,
) -> str:
    """Development/test tokens, signed by the development issuer (common.dev_issuer).

    They name every service's audience unless ``audience`` narrows them, so one token works
    across the services of ``make run`` and the tests. Never in production: there the identity
    provider issues tokens and services refuse this issuer.

    An operator asked for with neither ``roles`` nor ``scope`` gets every named role (an
    operator with full roles); ``roles`` or ``scope`` narrow it.
    """
    if settings.environment == "production":
        raise ValueError("development tokens are never issued in production")
    if roles is None:
        roles = FULL_OPERATOR_ROLES if role == "operator" and not scope else ()
    now = datetime.now(UTC)
    payload: dict[str, object] = {
        "iss": settings.token_issuer,
        "aud": list(audience or ALL_AUDIENCES),
        "sub": sub or f"{role}-{uuid.uuid4().hex[:8]}",
        "role": role,
        "scope": scope,
        **({"roles": list(roles)} if roles else {}),
        "iat": now,
        "exp": now + ttl,
        **claims,
    }
    return dev_issuer(settings.dev_keys_dir).sign(payload)


async def decode_token(verifier: TokenVerifier, token: str) -> Principal:
    try:
        claims = await verifier.claims(token)
        return Principal.model_validate(claims)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise Problem(401, "Unauthorized", "invalid or expired bearer token") from exc


def token_verifier(app: FastAPI) -> TokenVerifier:
    """The app's verifier, made on first use (its JWKS cache lives as long as the app)."""
    verifier: TokenVerifier | None = getattr(app.state, "token_verifier", None)
    if verifier is None:
        verifier = TokenVerifier(app.state.settings)
        app.state.token_verifier = verifier
    return verifier


_bearer = HTTPBearer(auto_error=False)


# An API key (partners' gateway) instead of a JWT: ``dhk_<key id>.<secret>``.
API_KEY_PREFIX = "dhk_"


class ApiKeyResolver(Protocol):
    async def principal(self, api_key: str) -> Principal | None:
        """The key's principal, or None when it is unknown, revoked or expired."""


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller, counted against its own rate limit (common.request_limits)."""
    principal = await _authenticated(request, credentials)
    await admit_principal(request, f"{principal.role}:{principal.sub}")
    return principal


async def _authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "a bearer token is required")
    resolver: ApiKeyResolver | None = getattr(request.app.state, "api_keys", None)
    if resolver is not None and credentials.credentials.startswith(API_KEY_PREFIX):
        principal = await resolver.principal(credentials.credentials)
        if principal is None:
            raise Problem(401, "Unauthorized", "unknown, revoked or expired API key")
        return principal
    return await decode_token(token_verifier(request.app), credentials.credentials)


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only the given roles through (403 otherwise)."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise Problem(403, "Forbidden", f"role {principal.role!r} may not do this")
        return principal

    return check


def _named_roles(parser: argparse.ArgumentParser, given: str | None) -> list[str] | None:
    if given is None:
        return None
    names = [name.strip() for name in given.split(",") if name.strip()]
    unknown = sorted(set(names) - set(NAMED_ROLES))
    if unknown:
        parser.error(f"unknown named roles {unknown}; known: {', '.join(NAMED_ROLES)}")
    return names


# Development tokens are for a working day, never the 10-year kind a leaked one stays useful for.
MAX_DEV_TOKEN_HOURS = 24


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print a development bearer token.")
    parser.add_argument("--role", choices=ROLES, default="operator")
    parser.add_argument("--sub")
    parser.add_argument("--scope", default="")
    parser.add_argument(
        "--as",
        dest="named_roles",
        help=f"comma-separated named roles of an operator (default: all): {', '.join(NAMED_ROLES)}",
    )
    parser.add_argument("--station-id")
    parser.add_argument("--partner-id")
    parser.add_argument("--driver-id")
    parser.add_argument("--person-id", help="the registry person (a branch secretary)")
    parser.add_argument("--hours", type=float, default=12)
    args = parser.parse_args(argv)
    if not 0 < args.hours <= MAX_DEV_TOKEN_HOURS:
        parser.error(f"--hours must be more than 0 and at most {MAX_DEV_TOKEN_HOURS}")
    # An unset DRIVERHOME_ENVIRONMENT is production too: `make token` says development.
    if os.environ.get("DRIVERHOME_ENVIRONMENT", "production").lower() == "production":
        parser.error("refused in production (DRIVERHOME_ENVIRONMENT unset or production)")
    settings = ServiceSettings()
    claims = {
        k: v
        for k, v in {
            "station_id": args.station_id,
            "partner_id": args.partner_id,
            "driver_id": args.driver_id,
            "person_id": args.person_id,
        }.items()
        if v
    }
    token = issue_token(
        settings,
        role=args.role,
        sub=args.sub,
        scope=args.scope,
        roles=_named_roles(parser, args.named_roles),
        ttl=timedelta(hours=args.hours),
        **claims,
    )
    sys.stdout.write(token + "\n")


if __name__ == "__main__":
    main()
