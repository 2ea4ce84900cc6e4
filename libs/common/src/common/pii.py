"""Protection of sensitive personal information (handbook section 5).

A protected value is stored as a keyed hash (lookup and dedupe), an AES-GCM ciphertext
(recoverable with the key and the ``pii:read`` scope) and a masked display form. Hashes and
ciphertexts name their key (key rotation: ``common.key_rotation``); partners that compute hashes
themselves get their own key, never the internal one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from common.settings import ServiceSettings

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_FORMAT = re.compile(
    r"^[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]$"
)
_PHONE_FORMAT = re.compile(r"^1[3-9]\d{9}$")


def normalise_national_id(value: str) -> str:
    return value.strip().upper()


def is_valid_national_id(value: str) -> bool:
    """GB 11643-1999 resident ID: format, plausible birth date, and the ISO 7064 check digit."""
    if not _ID_FORMAT.fullmatch(value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def normalise_phone(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value.strip())
    return digits.removeprefix("+86")


def is_valid_phone(value: str) -> bool:
    return bool(_PHONE_FORMAT.fullmatch(value))


def mask_national_id(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:]


class ProtectedValue(BaseModel):
    """How a sensitive value rests in a document."""

    model_config = ConfigDict(frozen=True)

    hash: str
    enc: str
    masked: str


AES_KEY_BYTES = (16, 24, 32)
MIN_HMAC_KEY_BYTES = 16
# Stored forms (versioned, each naming its key): ``H1:<key id>:<hex>`` for a lookup hash,
# ``E1:<key id>:<base64 nonce+ciphertext>`` for a ciphertext, ``P1:<partner>:<key id>:<hex>``
# for a hash under a partner's key. Values written before key ids existed (bare hex, bare
# base64) stay readable and findable; the rotation job rewrites them.
HASH_SCHEME = "H1"
CIPHER_SCHEME = "E1"
PARTNER_SCHEME = "P1"
NONCE_BYTES = 12


def _decoded(key_b64: str, what: str) -> bytes:
    try:
        return base64.b64decode(key_b64, validate=True)
    except ValueError as exc:
        raise ValueError(f"{what} must be base64") from exc


def partner_hash(key_b64: str, purpose: str, value: str) -> str:
    """What a partner computes with its own key (docs/events.md, "The national ID hash")."""
    return PiiProtector._hex(_decoded(key_b64, "partner hash key"), purpose, value)


class PiiProtector:
    """Keyed hashes and AES-GCM ciphertexts of personal values, each marked with its key id.

    New values use the current keys; retired keys (rotated out) still decrypt and still find
    values by hash until the rotation job has rewritten them (``is_current``).
    """

    def __init__(
        self,
        aes_key_b64: str,
        hmac_key_b64: str,
        *,
        key_id: str = "k1",
        hmac_key_id: str = "h1",
        retired_keys: Mapping[str, str] | None = None,
        retired_hmac_keys: Mapping[str, str] | None = None,
        partner_keys: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.key_id, self.hmac_key_id = key_id, hmac_key_id
        self._aead: dict[str, AESGCM] = {}
        for kid, key_b64 in {key_id: aes_key_b64, **(retired_keys or {})}.items():
            key = _decoded(key_b64, "PII AES key")
            if len(key) not in AES_KEY_BYTES:
                raise ValueError("PII AES key must be 16, 24 or 32 bytes (base64)")
            self._aead.setdefault(kid, AESGCM(key))
        self._hmac: dict[str, bytes] = {}
        for kid, key_b64 in {hmac_key_id: hmac_key_b64, **(retired_hmac_keys or {})}.items():
            key = _decoded(key_b64, "PII HMAC key")
            if len(key) < MIN_HMAC_KEY_BYTES:
                raise ValueError("PII HMAC key must be at least 16 bytes (base64)")
            self._hmac.setdefault(kid, key)
        self._partner: dict[str, dict[str, bytes]] = {
            partner: {kid: _decoded(k, "partner hash key") for kid, k in keys.items()}
            for partner, keys in (partner_keys or {}).items()
        }

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> PiiProtector:
        return cls(
            settings.pii_key,
            settings.pii_hmac_key,
            key_id=settings.pii_key_id,
            hmac_key_id=settings.pii_hmac_key_id,
            retired_keys=settings.pii_retired_keys,
            retired_hmac_keys=settings.pii_retired_hmac_keys,
            partner_keys=settings.partner_hash_keys,
        )

    # ------------------------------------------------------------------ hashes
    @staticmethod
    def _hex(key: bytes, purpose: str, value: str) -> str:
        return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def hash(self, purpose: str, value: str) -> str:
        """Keyed hash under the current key; the purpose keeps equal values of different kinds
        apart."""
        digest = self._hex(self._hmac[self.hmac_key_id], purpose, value)
        return f"{HASH_SCHEME}:{self.hmac_key_id}:{digest}"

    def digest(self, purpose: str, value: str) -> str:
        """The bare hex of ``hash``: for ids derived from a value, never stored as its hash."""
        return self._hex(self._hmac[self.hmac_key_id], purpose, value)

    def hashes(self, purpose: str, value: str) -> list[str]:
        """Every stored form the value may have now (current key first): what lookups match."""
        found = [self.hash(purpose, value)]
        for kid, key in self._hmac.items():
            digest = self._hex(key, purpose, value)
            if kid != self.hmac_key_id:
                found.append(f"{HASH_SCHEME}:{kid}:{digest}")
            found.append(digest)  # written before key ids
        return found

    def matches(self, stored: str | None, purpose: str, value: str) -> bool:
        return stored is not None and stored in self.hashes(purpose, value)

    def partner_hashes(self, purpose: str, value: str) -> list[str]:
        """The value's hash under each partner's keys, to recognise what a partner sends."""
        return [
            f"{PARTNER_SCHEME}:{partner}:{kid}:{self._hex(key, purpose, value)}"
            for partner, keys in self._partner.items()
            for kid, key in keys.items()
        ]

    def partner_candidates(self, partner_id: str, digest: str) -> list[str]:
        """The stored forms a partner's bare hash may match (one per key of that partner);
        empty when the partner has no hash key."""
        return [
            f"{PARTNER_SCHEME}:{partner_id}:{kid}:{digest}"
            for kid in self._partner.get(partner_id, {})
        ]

    # ------------------------------------------------------------------ ciphertexts
    def encrypt(self, purpose: str, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.key_id].encrypt(nonce, value.encode(), purpose.encode())
        return f"{CIPHER_SCHEME}:{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, purpose: str, token: str) -> str:
        scheme, _, rest = token.partition(":")
        if scheme == CIPHER_SCHEME:
            kid, _, body = rest.partition(":")
            if kid not in self._aead:
                raise ValueError(f"PII key {kid!r} is not configured (retired too early?)")
            return self._open(self._aead[kid], purpose, body)
        for aead in self._aead.values():  # written before key ids: whichever key opens it
            try:
                return self._open(aead, purpose, token)
            except InvalidTag:
                continue
        raise ValueError("no configured PII key opens this value")

    @staticmethod
    def _open(aead: AESGCM, purpose: str, body: str) -> str:
        raw = base64.b64decode(body)
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()

    def protect(self, purpose: str, value: str, masked: str) -> ProtectedValue:
        return ProtectedValue(
            hash=self.hash(purpose, value), enc=self.encrypt(purpose, value), masked=masked
        )

    # ------------------------------------------------------------------ rotation
    def is_current(self, stored: str | None) -> bool:
        """Whether a stored hash or ciphertext is under the current key (None counts as
        current: nothing to rewrite)."""
        if stored is None:
            return True
        return stored.startswith(
            (f"{HASH_SCHEME}:{self.hmac_key_id}:", f"{CIPHER_SCHEME}:{self.key_id}:")
        )

    def key_ids(self) -> str:
        """The current key ids, as the rotation job records them."""
        return f"{self.key_id}/{self.hmac_key_id}"
