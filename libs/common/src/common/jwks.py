"""The identity provider's public keys (JWKS), by key id.

A remote set is fetched once, kept for ``ttl`` seconds, and fetched again early when a token
names a key id it lacks (the provider rotated its keys) — but at most once per ``min_refresh``
seconds, so tokens with made-up key ids cannot turn every request into a fetch. A file set (the
development issuer's, tests) is read again when the file changes.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from common.logging import describe_error, get_logger

log = get_logger(__name__)

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 20


class KeySource(Protocol):
    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The verification key with this id, or None when the provider has none."""


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """Signing keys with a key id; symmetric (``oct``) keys are never accepted."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"][:MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("kty") == "oct" or not entry.get("kid"):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK.from_dict(entry)
        except jwt.PyJWTError as exc:
            log.warning("jwks key skipped", kid=entry.get("kid"), error=describe_error(exc))
    return keys


class StaticKeys:
    def __init__(self, document: Any) -> None:
        self._keys = parse_jwks(document)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


class FileKeys:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    async def key(self, kid: str) -> jwt.PyJWK | None:
        try:
            stamp = self._path.stat().st_mtime
        except FileNotFoundError:  # no issuer yet (`make token` creates it): nobody gets in
            return None
        if stamp != self._stamp:
            self._keys = parse_jwks(json.loads(self._path.read_text()))
            self._stamp = stamp
        return self._keys.get(kid)


class RemoteKeys:
    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_refresh: float = 30.0,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._timeout = timeout
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        stale = self._fetched_at is None or now - self._fetched_at > self._ttl
        unknown = kid not in self._keys
        if stale or (unknown and now - (self._fetched_at or 0.0) > self._min_refresh):
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            started = time.monotonic()
            if self._fetched_at is not None and started - self._fetched_at < self._min_refresh:
                return  # another request refreshed while this one waited
            self.fetches += 1
            try:
                async with httpx.AsyncClient(
                    timeout=self._timeout, transport=self._transport, follow_redirects=False
                ) as client:
                    answer = await client.get(self._url, headers={"Accept": "application/json"})
                answer.raise_for_status()
                if len(answer.content) > MAX_JWKS_BYTES:
                    raise ValueError("the JWKS document is too large")
                self._keys = parse_jwks(answer.json())
            except (httpx.HTTPError, ValueError) as exc:
                # Keep the keys we had: a provider hiccup must not log everyone out.
                log.warning("jwks not refreshed", url=self._url, error=describe_error(exc))
            self._fetched_at = started
