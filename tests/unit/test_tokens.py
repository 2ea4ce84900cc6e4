"""Token verification: the identity provider's keys from its JWKS, fetched boundedly."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from common.jwks import RemoteKeys, StaticKeys, parse_jwks
from common.settings import ServiceSettings
from common.tokens import TokenVerifier

ISSUER = "https://id.example/realms/driverhome"


def _idp(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return key, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


def _claims(**extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "iss": ISSUER,
        "aud": ["driverhome-points"],
        "sub": "op-1",
        "role": "operator",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **extra,
    }


def _settings() -> ServiceSettings:
    return ServiceSettings(service_name="points", jwt_issuer=ISSUER)


async def test_an_unknown_key_id_refreshes_the_jwks_at_most_once_per_interval() -> None:
    key, jwk = _idp("a")
    served = {"keys": [jwk]}
    fetches: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json=served)

    keys = RemoteKeys(
        "https://id.example/jwks", min_refresh=60, transport=httpx.MockTransport(answer)
    )
    verifier = TokenVerifier(_settings(), keys)
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "a"})
    assert (await verifier.claims(token))["sub"] == "op-1"
    for n in range(20):  # made-up key ids cannot make every request a fetch
        assert await keys.key(f"made-up-{n}") is None
    assert len(fetches) == 1
    # The provider rotates: once the interval allows, the new key is fetched and accepted.
    new_key, new_jwk = _idp("b")
    served["keys"] = [jwk, new_jwk]
    keys._min_refresh = 0
    rotated = jwt.encode(_claims(), new_key, algorithm="RS256", headers={"kid": "b"})
    assert (await verifier.claims(rotated))["sub"] == "op-1"
    assert len(fetches) == 2


def _hs256_forgery(claims: dict[str, Any], secret: bytes) -> str:
    """The algorithm-confusion attack: HS256 "signed" with the provider's public key."""
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    header = part(json.dumps({"alg": "HS256", "kid": "a", "typ": "JWT"}).encode())
    signing_input = f"{header}.{part(json.dumps(body).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


async def test_forged_algorithms_missing_claims_and_symmetric_keys_are_refused() -> None:
    key, jwk = _idp("a")
    verifier = TokenVerifier(_settings(), StaticKeys({"keys": [jwk]}))
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_with_public_key = _hs256_forgery(_claims(), public_pem)
    no_kid = jwt.encode(_claims(), key, algorithm="RS256")
    no_issuer = jwt.encode(
        {k: v for k, v in _claims().items() if k != "iss"}, key, "RS256", {"kid": "a"}
    )
    other_service = jwt.encode(_claims(aud=["driverhome-registry"]), key, "RS256", {"kid": "a"})
    for token in (hs_with_public_key, no_kid, no_issuer, other_service):
        with pytest.raises(jwt.PyJWTError):
            await verifier.claims(token)
    assert parse_jwks({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}) == {}


class _Keys:
    """A provider whose key set can change between requests."""

    def __init__(self, jwk: dict[str, Any]) -> None:
        self.keys = parse_jwks({"keys": [jwk]})

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return self.keys.get(kid)


async def test_a_verified_token_is_not_checked_again_but_still_expires_and_needs_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, jwk = _idp("a")
    keys = _Keys(jwk)
    verifier = TokenVerifier(_settings().model_copy(update={"jwt_leeway_seconds": 0}), keys)
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "a"})
    for _ in range(5):
        assert (await verifier.claims(token))["sub"] == "op-1"
    assert decoded == [token], "the signature is checked once"
    # The provider drops the key: the kept token is refused with it.
    keys.keys = {}
    with pytest.raises(jwt.InvalidTokenError):
        await verifier.claims(token)
    # A kept token still expires when its exp says.
    keys.keys = parse_jwks({"keys": [jwk]})
    soon = _claims(exp=datetime.now(UTC) + timedelta(seconds=1))
    short = jwt.encode(soon, key, algorithm="RS256", headers={"kid": "a"})
    assert (await verifier.claims(short))["sub"] == "op-1"
    await asyncio.sleep(2.1)
    with pytest.raises(jwt.ExpiredSignatureError):
        await verifier.claims(short)
