"""Protection of sensitive personal information (handbook section 5).

A protected value is stored as a keyed hash (lookup and dedupe), an AES-GCM ciphertext
(recoverable with the key and the ``pii:read`` scope) and a masked display form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

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


class PiiProtector:
    def __init__(self, aes_key_b64: str, hmac_key_b64: str) -> None:
        aes_key = base64.b64decode(aes_key_b64)
        if len(aes_key) not in AES_KEY_BYTES:
            raise ValueError("PII AES key must be 16, 24 or 32 bytes (base64)")
        self._aead = AESGCM(aes_key)
        self._hmac_key = base64.b64decode(hmac_key_b64)
        if len(self._hmac_key) < MIN_HMAC_KEY_BYTES:
            raise ValueError("PII HMAC key must be at least 16 bytes (base64)")

    def hash(self, purpose: str, value: str) -> str:
        """Keyed hash; the purpose keeps equal values of different kinds apart."""
        return hmac.new(self._hmac_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, purpose: str, value: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), purpose.encode())
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, purpose: str, token: str) -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], purpose.encode()).decode()

    def protect(self, purpose: str, value: str, masked: str) -> ProtectedValue:
        return ProtectedValue(
            hash=self.hash(purpose, value), enc=self.encrypt(purpose, value), masked=masked
        )
