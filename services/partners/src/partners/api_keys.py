"""Partners' API keys: the production credential of a partner without an identity provider.

A key is ``dhk_<key id>.<secret>``; only the secret's SHA-256 digest is kept (the secret is 256
random bits, so a digest cannot be reversed by guessing). A key carries its own scopes, never
more than the caller who made it holds. Rotation: a new key replaces an old one, which keeps
working for an overlap so the partner can switch without a gap; a revoked key stops at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from common.auth import API_KEY_PREFIX, Principal
from common.clock import Clock, utc_now
from partners.domain import NotFound, Partner

Document = dict[str, Any]


class KeyRecords(Protocol):
    """What the use case needs of its store (``store/api_keys.py``; a fake in unit tests)."""

    async def add(self, doc: Document) -> None: ...
    async def get(self, key_id: str) -> Document | None: ...
    async def of_partner(self, partner_id: str) -> list[Document]: ...
    async def end(
        self, partner_id: str, key_id: str, at: datetime, field: str
    ) -> Document | None: ...


class KnownPartners(Protocol):
    async def get(self, partner_id: str) -> Partner:
        """The account, or PartnerNotFound."""


MAX_KEY_ID = 32  # ids are 16 hex digits; anything far longer is not worth a lookup
KEY_SCOPES = ("events:write", "events:read", "drivers:read", "keys:manage")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_state(doc: Document, now: datetime) -> str:
    if doc.get("revoked_at") is not None and doc["revoked_at"] <= now:
        return "revoked"
    if doc.get("expires_at") is not None and doc["expires_at"] <= now:
        return "expired"
    return "active"


class ApiKeys:
    def __init__(self, store: KeyRecords, accounts: KnownPartners, clock: Clock = utc_now) -> None:
        self.store = store
        self._accounts = accounts
        self._clock = clock

    async def issue(
        self,
        partner_id: str,
        scopes: list[str],
        *,
        created_by: str,
        valid_for: timedelta | None = None,
        replaces: str | None = None,
        overlap: timedelta = timedelta(hours=24),
    ) -> tuple[str, Document]:
        """A new key (its full text is returned here and nowhere else) and its record."""
        await self._accounts.get(partner_id)
        now = self._clock()
        if replaces is not None:
            old = await self.store.get(replaces)
            if old is None or old["partner_id"] != partner_id:
                raise NotFound(f"no key {replaces!r} of this partner")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        doc: Document = {
            "_id": key_id,
            "partner_id": partner_id,
            "scope": " ".join(dict.fromkeys(scopes)),
            "digest": _digest(secret),
            "created_at": now,
            "created_by": created_by,
            "expires_at": now + valid_for if valid_for else None,
            "revoked_at": None,
            "replaced_at": None,
            "replaces": replaces,
        }
        await self.store.add(doc)
        if replaces is not None:
            await self.store.end(partner_id, replaces, now + overlap, "replaced_at")
        return f"{API_KEY_PREFIX}{key_id}.{secret}", doc

    async def revoke(self, partner_id: str, key_id: str) -> Document:
        now = self._clock()
        ended = await self.store.end(partner_id, key_id, now, "revoked_at")
        if ended is not None:
            return ended
        doc = await self.store.get(key_id)
        if doc is None or doc["partner_id"] != partner_id:
            raise NotFound(f"no key {key_id!r} of this partner")
        return doc  # it had already stopped working

    async def of_partner(self, partner_id: str) -> list[Document]:
        await self._accounts.get(partner_id)
        return await self.store.of_partner(partner_id)

    async def principal(self, api_key: str) -> Principal | None:
        key_id, dot, secret = api_key.removeprefix(API_KEY_PREFIX).partition(".")
        if not dot or not key_id or len(key_id) > MAX_KEY_ID or not secret:
            return None
        doc = await self.store.get(key_id)
        if doc is None or not hmac.compare_digest(doc["digest"], _digest(secret)):
            return None
        if key_state(doc, self._clock()) != "active":
            return None
        return Principal(
            sub=f"partner-key:{key_id}",
            role="partner",
            scope=doc["scope"],
            partner_id=doc["partner_id"],
        )

    def now(self) -> datetime:
        return self._clock()
