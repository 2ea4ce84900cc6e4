"""Verifying bearer tokens: the identity provider's signature, issuer and this service's audience.

Only asymmetric signatures count, and each token's algorithm must be its key's: a token cannot
pick HS256 and have a public key used as its secret. The keys come from the provider's JWKS
(``DRIVERHOME_JWT_JWKS_URL``, or a document/file); outside production, when none is configured,
from the development issuer's (``common.dev_issuer``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
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
# Tokens whose signature was verified, kept per verifier (least recently used out first).
VERIFIED_TOKENS = 4096


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
        # A client sends one token with many requests, and checking its signature was the
        # largest part of an authenticated request's own cost (issue 19). A token verified
        # once is kept, by its exact text, with the key that verified it: it is accepted again
        # only until it expires and while that key is still the provider's.
        self._verified: OrderedDict[str, tuple[str, jwt.PyJWK, dict[str, Any]]] = OrderedDict()

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims; ``jwt.PyJWTError`` for anything not signed by the provider
        for this service, expired, or missing a required claim."""
        kept = self._verified.get(token)
        if kept is not None:
            kid, key, claims = kept
            if time.time() <= claims["exp"] + self._leeway and await self._keys.key(kid) is key:
                self._verified.move_to_end(token)
                return dict(claims)
            del self._verified[token]
        claims = await self._verify(token)
        return dict(claims)

    async def _verify(self, token: str) -> dict[str, Any]:
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
        self._verified[token] = (kid, key, claims)
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return claims
