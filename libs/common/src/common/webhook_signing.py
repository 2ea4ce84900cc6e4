"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>`` with the subscription's secret.

Receivers recompute it, compare in constant time and refuse stale timestamps (replays). Every
service that calls a partner's webhook (notify, partners) signs the same way, so a partner
verifies all of them with one piece of code.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

SIGNATURE_HEADER = "X-Driverhome-Signature"
TIMESTAMP_HEADER = "X-Driverhome-Timestamp"
DELIVERY_HEADER = "X-Driverhome-Delivery"
_PREFIX = "v1="


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: str, body: bytes) -> hmac.HMAC:
    mac = hmac.HMAC(secret.encode(), hashes.SHA256())
    mac.update(timestamp.encode() + b"." + body)
    return mac


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return _PREFIX + _mac(secret, timestamp, body).finalize().hex()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    if not signature.startswith(_PREFIX):
        return False
    try:
        _mac(secret, timestamp, body).verify(bytes.fromhex(signature.removeprefix(_PREFIX)))
    except (InvalidSignature, ValueError):
        return False
    return True
