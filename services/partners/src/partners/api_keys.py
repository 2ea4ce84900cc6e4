"""Partners' API keys: the production credential of a partner without an identity provider.

A key is ``dhk_<key id>.<secret>``; only the secret's SHA-256 digest is kept (the secret is 256
random bits, so a digest cannot be reversed by guessing). A key carries its own scopes, never
more than the caller who made it holds. Rotation: a new key replaces an old one, which keeps
working for an overlap so the partner can switch without a gap; a revoked key stops at once.

Operators make keys freely. A partner only rotates (``rotate``): each key it makes ends one of its
working keys, and never outlives the key that makes it, so self-service neither multiplies keys
nor escapes the expiry an operator set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from common.auth import API_KEY_PREFIX, Principal
from common.clock import Clock, utc_now
from partners.domain import KeyNotReplaceable, NotFound, Partner

Document = dict[str, Any]


class KeyRecords(Protocol):
    """What the use case needs of its store (``store/api_keys.py``; a fake in unit tests)."""

    async def add(self, doc: Document) -> None: ...
    async def get(self, key_id: str) -> Document | None: ...
    async def of_partner(self, partner_id: str) -> list[Document]: ...
    async def end(
        self, partner_id: str, key_id: str, at: datetime, field: str
    ) -> Document | None: ...
    async def claim_replacement(
        self, partner_id: str, key_id: str, now: datetime, until: datetime
    ) -> bool: ...


class KnownPartners(Protocol):
    async def get(self, partner_id: str) -> Partner:
        """The account, or PartnerNotFound."""


MAX_KEY_ID = 32  # ids are 16 hex digits; anything far longer is not worth a lookup
KEY_SCOPES = ("events:write", "events:read", "drivers:read", "keys:manage")
KEY_SUBJECT = "partner-key:"  # the ``sub`` of a key's principal, before its key id


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
            await self._replaced(partner_id, replaces)
        expires_at = now + valid_for if valid_for else None
        return await self._make(
            partner_id,
            scopes=scopes,
            created_by=created_by,
            now=now,
            expires_at=expires_at,
            replaces=replaces,
            overlap=overlap,
        )

    async def rotate(
        self,
        maker: Principal,
        partner_id: str,
        scopes: list[str],
        *,
        replaces: str,
        valid_for: timedelta | None = None,
        overlap: timedelta = timedelta(hours=24),
    ) -> tuple[str, Document]:
        """A key a partner makes itself, in place of one of its working keys not yet replaced;
        it ends no later than the maker's own key."""
        await self._accounts.get(partner_id)
        now = self._clock()
        old = await self._replaced(partner_id, replaces)
        if key_state(old, now) != "active" or old.get("replaced_at") is not None:
            raise KeyNotReplaceable(replaces)
        expires_at = now + valid_for if valid_for else None
        maker_ends = await self._end_of(maker)
        if maker_ends is not None and (expires_at is None or maker_ends < expires_at):
            expires_at = maker_ends
        text, doc = await self._make(
            partner_id,
            scopes=scopes,
            created_by=maker.sub,
            now=now,
            expires_at=expires_at,
            replaces=replaces,
            overlap=None,
        )
        # Two rotations of one key at once: each stored its new key, one claims the old key,
        # and the other's new key (its secret never shown) is revoked at once.
        if not await self.store.claim_replacement(partner_id, replaces, now, now + overlap):
            await self.store.end(partner_id, doc["_id"], now, "revoked_at")
            raise KeyNotReplaceable(replaces)
        return text, doc

    async def _replaced(self, partner_id: str, key_id: str) -> Document:
        old = await self.store.get(key_id)
        if old is None or old["partner_id"] != partner_id:
            raise NotFound(f"no key {key_id!r} of this partner")
        return old

    async def _end_of(self, maker: Principal) -> datetime | None:
        """When the maker's key stops working; None for a token (its issuer bounds it)."""
        if not maker.sub.startswith(KEY_SUBJECT):
            return None
        doc = await self.store.get(maker.sub.removeprefix(KEY_SUBJECT))
        end: datetime | None = doc.get("expires_at") if doc else None
        return end

    async def _make(
        self,
        partner_id: str,
        *,
        scopes: list[str],
        created_by: str,
        now: datetime,
        expires_at: datetime | None,
        replaces: str | None,
        overlap: timedelta | None,
    ) -> tuple[str, Document]:
        """The new key, stored; with ``overlap``, the key it replaces ends after it."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        doc: Document = {
            "_id": key_id,
            "partner_id": partner_id,
            "scope": " ".join(dict.fromkeys(scopes)),
            "digest": _digest(secret),
            "created_at": now,
            "created_by": created_by,
            "expires_at": expires_at,
            "revoked_at": None,
            "replaced_at": None,
            "replaces": replaces,
        }
        await self.store.add(doc)
        if replaces is not None and overlap is not None:
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
            sub=f"{KEY_SUBJECT}{key_id}",
            role="partner",
            scope=doc["scope"],
            partner_id=doc["partner_id"],
        )

    def now(self) -> datetime:
        return self._clock()
