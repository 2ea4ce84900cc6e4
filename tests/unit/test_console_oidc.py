"""Production sign-in and sign-out through the district's OpenID Connect provider.

The provider is a stand-in on an httpx transport (discovery, token endpoint with a signed ID
token, JWKS); the console runs Authlib's real code against it: the authorization-code flow with
PKCE and nonce, then RP-initiated logout at the provider's ``end_session_endpoint``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from console.app import create_app
from console.settings import ConsoleSettings
from console.web import content_security_policy

PROVIDER = "https://id.example.invalid"
CONSOLE = "https://console.test"
SETTINGS = {
    "environment": "production",
    "session_secret": "a-production-session-secret-of-enough-length",
    "oidc_metadata_url": f"{PROVIDER}/.well-known/openid-configuration",
    "oidc_client_id": "driverhome-console",
}


@dataclass
class Provider:
    """Discovery, token and JWKS answers of an OpenID provider, with what it was asked."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, auto_kid=True))
    nonce: str = ""
    id_token: str = ""

    def metadata(self) -> dict[str, str]:
        return {
            "issuer": PROVIDER,
            "authorization_endpoint": f"{PROVIDER}/authorize",
            "token_endpoint": f"{PROVIDER}/token",
            "jwks_uri": f"{PROVIDER}/jwks",
            # A query of its own must survive the console's parameters.
            "end_session_endpoint": f"{PROVIDER}/logout?tenant=beilun",
        }

    def tokens(self) -> dict[str, object]:
        now = int(time.time())
        claims = {
            "iss": PROVIDER,
            "aud": SETTINGS["oidc_client_id"],
            "sub": "zhang.wei",
            "iat": now,
            "exp": now + 600,
            "nonce": self.nonce,
        }
        header = {"alg": "RS256", "kid": self.key.kid}
        self.id_token = jose_jwt.encode(header, claims, self.key)
        access = jwt.encode(
            {"sub": "zhang.wei", "role": "operator", "roles": ["auditor"], "exp": now + 600},
            "provider-signs-this-the-console-does-not-verify-it",
        )
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 600,
            "id_token": self.id_token,
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host != "id.example.invalid":
            return httpx.Response(503)  # the services: not part of this test
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.metadata())
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path == "/token" and request.method == "POST":
            return httpx.Response(200, json=self.tokens())
        return httpx.Response(404)


@pytest.fixture
async def provider() -> Provider:
    return Provider()


@pytest.fixture
async def console(provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleSettings(**SETTINGS), transport=httpx.MockTransport(provider.handle))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=CONSOLE) as http,
    ):
        yield http


async def sign_in(console: httpx.AsyncClient, provider: Provider) -> None:
    start = await console.get("/signin/oidc")
    assert start.status_code == 302
    asked = parse_qs(urlsplit(start.headers["location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["redirect_uri"] == [
        f"{CONSOLE}/signin/callback"
    ]
    provider.nonce = asked["nonce"][0]
    back = await console.get(
        "/signin/callback", params={"code": "c0de", "state": asked["state"][0]}
    )
    assert back.status_code == 303 and back.headers["location"] == "/", back.text
    assert (await console.get("/")).status_code == 200


def csrf_of(page: httpx.Response) -> str:
    text = page.text
    marker = '"X-CSRF-Token": "'
    start = text.index(marker) + len(marker)
    return text[start : text.index('"', start)]


async def test_signing_out_ends_the_providers_session_and_clears_the_consoles(
    console: httpx.AsyncClient, provider: Provider
) -> None:
    await sign_in(console, provider)
    home = await console.get("/")
    answer = await console.post("/signout", data={"csrf": csrf_of(home)})

    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{PROVIDER}/logout"
    sent = parse_qs(target.query)
    assert sent == {
        "tenant": ["beilun"],
        "id_token_hint": [provider.id_token],
        "post_logout_redirect_uri": [f"{CONSOLE}/signin"],
        "client_id": [SETTINGS["oidc_client_id"]],
    }
    # The console's own session is gone: the cookie is emptied and the next page asks to sign in.
    assert "driverhome_console=null" in answer.headers["set-cookie"]
    again = await console.get("/")
    assert (again.status_code, again.headers["location"]) == (303, "/signin")


async def test_the_sign_out_form_may_be_redirected_to_the_provider_only(
    console: httpx.AsyncClient,
) -> None:
    policy = (await console.get("/signin")).headers["content-security-policy"]
    assert f"form-action 'self' {PROVIDER};" in policy
    development = content_security_policy(ConsoleSettings(environment="development"))
    assert "form-action 'self';" in development


async def test_signing_out_of_a_development_session_stays_on_the_console() -> None:
    app = create_app(ConsoleSettings(environment="development"))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=CONSOLE) as http,
    ):
        page = await http.get("/signin")
        await http.post("/signin/dev", data={"csrf": csrf_of(page), "sub": "a", "roles": "auditor"})
        answer = await http.post("/signout", data={"csrf": csrf_of(await http.get("/"))})
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin")
        assert (await http.get("/")).headers["location"] == "/signin"
