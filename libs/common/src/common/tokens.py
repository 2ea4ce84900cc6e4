"""Verifying bearer tokens: the identity provider's signature, issuer and this service's audience.

Only asymmetric signatures count, and each token's algorithm must be its key's: a token cannot
pick HS256 and have a public key used as its secret. The keys come from the provider's JWKS
(``DRIVERHOME_JWT_JWKS_URL``, or a document/file); outside production, when none is configured,
from the development issuer's (``common.dev_issuer``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt

from common.dev_issuer import dev_issuer
from common.jwks import FileKeys, KeySource, RemoteKeys, StaticKeys
from common.settings import ServiceSettings

ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
)
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat"]


def key_source(settings: ServiceSettings) -> KeySource:
    if settings.jwt_jwks_url:
        return RemoteKeys(
            settings.jwt_jwks_url,
            ttl=settings.jwt_jwks_ttl_seconds,
            min_refresh=settings.jwt_jwks_min_refresh_seconds,
        )
    if settings.jwt_jwks:
        return StaticKeys(json.loads(settings.jwt_jwks))
    if settings.jwt_jwks_file:
        return FileKeys(Path(settings.jwt_jwks_file))
    if settings.environment == "production":  # the settings refuse this already; be sure
        raise ValueError("production verifies tokens only against the identity provider's keys")
    return FileKeys(dev_issuer(settings.dev_keys_dir).jwks_path)


class TokenVerifier:
    def __init__(self, settings: ServiceSettings, keys: KeySource | None = None) -> None:
        self._keys = keys or key_source(settings)
        self._issuer = settings.token_issuer
        self._audience = settings.token_audience
        self._leeway = settings.jwt_leeway_seconds

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims; ``jwt.PyJWTError`` for anything not signed by the provider
        for this service, expired, or missing a required claim."""
        header = jwt.get_unverified_header(token)
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or algorithm not in ASYMMETRIC:
            raise jwt.InvalidTokenError("a token names its key id and an asymmetric algorithm")
        key = await self._keys.key(kid)
        if key is None:
            raise jwt.InvalidTokenError("unknown key id")
        if key.algorithm_name != algorithm:
            raise jwt.InvalidAlgorithmError("the token's algorithm is not its key's")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": REQUIRED_CLAIMS},
        )
        return claims
