"""Vouchers for counter rewards: issued signed at reservation, redeemed offline, synced here.

Issue. A reserved counter redemption gets one voucher record (``_id`` = redemption id, a random
nonce, ``winner`` empty); the voucher (points.voucher) is signed with the current key over the
redemption id, reward, counters, the reservation's expiry and that nonce. Showing it again
signs the same claims again (Ed25519 is deterministic; after a rotation the new key signs).

Sync. Counters submit their queued scans, each with a ``scan_id`` the counter chose. Every scan
is recorded (``voucher_scans``, ``_id`` = counter + scan id, so a re-sync finds it). The first
scan recorded for a voucher wins by one conditional update on the voucher record (``winner``
still empty); every later scan of it is recorded and flagged ``duplicate``. Counters' clocks
are not trusted to order scans: the first to reach the service counts. The winning scan is
the collection: the redemption moves ``reserved → fulfilled`` exactly as a code at the counter
does (points were taken at reservation; the held unit is consumed). Each step is a conditional
update safe to repeat, so re-syncing a batch, or a crash between steps, changes nothing twice.

Keys. The current signing key (settings) and the retired keys' public halves are published
(``GET /v1/vouchers/keys``) with ``not_after``: a retired key verifies vouchers expiring up to
then, so rotating keeps every voucher already handed out valid until it expires.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pymongo import DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock
from common.dev_issuer import PRIVATE_FILE, DevIssuer, default_keys_dir, thumbprint
from common.mongo import Indexes, insert_once, is_duplicate_key
from points.domain import PointsError
from points.mall import Mall
from points.redemptions import InvalidTransition, Redemption
from points.store.redemptions import MOVING
from points.voucher import ALGORITHM, VOUCHER_TYPE, VoucherRefused, verify_voucher

Document = dict[str, Any]

VOUCHERS = "vouchers"
SCANS = "voucher_scans"
# A counter's clock may run a little ahead; a scan dated further ahead is refused.
CLOCK_SKEW = timedelta(minutes=10)

INDEXES = [
    Indexes(
        SCANS,
        (
            IndexModel([("redemption_id", 1), ("synced_at", 1)], name="redemption_synced"),
            IndexModel([("flagged", 1), ("synced_at", DESCENDING)], name="flagged_synced"),
        ),
    )
]


class NoVoucher(PointsError):
    """Only a reserved counter reward has a voucher."""


def dev_voucher_key(directory: Path | None = None) -> str:
    """The development signing key (base64 seed), generated on first use like the dev issuer's
    pair and kept beside it under .infra, never in git."""
    issuer = DevIssuer(directory or default_keys_dir().parent / "dev-vouchers")
    key = serialization.load_pem_private_key(
        (issuer.directory / PRIVATE_FILE).read_bytes(), password=None
    )
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the development voucher key is not Ed25519")
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def public_jwk(key: Ed25519PublicKey, not_after: datetime | None) -> Document:
    jwk: Document = jwt.algorithms.OKPAlgorithm.to_jwk(key, as_dict=True)
    jwk.update(kid=thumbprint(jwk)[:16], alg=ALGORITHM, use="sig")
    jwk["not_after"] = not_after.astimezone(UTC).isoformat() if not_after else None
    return jwk


@dataclass(frozen=True)
class RetiredKey:
    public_key: Ed25519PublicKey
    not_after: datetime


def signing_key(configured: str | None, *, production: bool, keys_dir: str | None) -> str:
    """The configured key, or (outside production only) the development key."""
    if production:
        if not configured:
            raise ValueError("production needs its own voucher signing key")
        dev_dir = default_keys_dir().parent / "dev-vouchers"
        if (dev_dir / PRIVATE_FILE).exists() and configured == dev_voucher_key(dev_dir):
            raise ValueError("production refuses the development voucher key")
        return configured
    if configured:
        return configured
    return dev_voucher_key(Path(keys_dir).parent / "dev-vouchers" if keys_dir else None)


class VoucherKeys:
    def __init__(self, signing_key_b64: str, retired: list[RetiredKey]) -> None:
        seed = base64.b64decode(signing_key_b64, validate=True)
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.current = public_jwk(self._key.public_key(), None)
        self.retired = [public_jwk(k.public_key, k.not_after) for k in retired]

    def published(self, now: datetime) -> Document:
        """The JWKS a counter keeps: the current key and retired keys still vouching."""
        live = [k for k in self.retired if datetime.fromisoformat(k["not_after"]) > now]
        return {"keys": [self.current, *live]}

    def sign(self, claims: Document) -> str:
        headers = {"kid": self.current["kid"], "typ": VOUCHER_TYPE}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=headers)


@dataclass(frozen=True)
class ScanResult:
    scan_id: str
    outcome: str  # counted | duplicate | refused
    flagged: bool
    reason: str | None
    redemption_id: str | None


class Vouchers:
    def __init__(
        self, db: AsyncDatabase[Document], mall: Mall, keys: VoucherKeys, *, clock: Clock
    ) -> None:
        self.vouchers = db[VOUCHERS]
        self.scans = db[SCANS]
        self.mall = mall
        self.keys = keys
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def issue(self, redemption: Redemption) -> str:
        if redemption.channel != "counter" or redemption.state != "reserved":
            raise NoVoucher("only a reserved counter reward has a voucher")
        rid = redemption.redemption_id
        record = {"_id": rid, "nonce": secrets.token_urlsafe(9), "winner": None}
        await insert_once(self.vouchers, record | {"issued_at": self._clock()})
        stored = await self.vouchers.find_one({"_id": rid}) or record
        expires = redemption.expires_at or self._clock()
        claims = {
            "r": rid,
            "w": redemption.reward_id,
            "c": [redemption.counter_id] if redemption.counter_id else redemption.counters,
            "exp": int(expires.timestamp()),
            "n": stored["nonce"],
        }
        return self.keys.sign(claims)

    async def redeem(
        self, counter_id: str, scan_id: str, voucher: str, scanned_at: datetime, *, by: str
    ) -> ScanResult:
        now = self._clock()
        key = f"{counter_id}:{scan_id}"
        try:
            if scanned_at > now + CLOCK_SKEW:
                raise VoucherRefused("scanned in the future")
            # Judged as at the scan: a key retired since still vouches for what it signed.
            keys = self.keys.published(min(now, scanned_at))
            checked = verify_voucher(voucher, keys, counter_id=counter_id, now=scanned_at)
        except VoucherRefused as exc:
            refused = ScanResult(scan_id, "refused", True, str(exc), None)
            return await self._record(key, refused, counter_id, by)
        rid = checked.redemption_id
        winner = await self._claim(rid, checked.nonce, key)
        if winner != key:
            why = f"already redeemed (first scan {winner})"
            duplicate = ScanResult(scan_id, "duplicate", True, why, rid)
            return await self._record(key, duplicate, counter_id, by)
        reason = await self._collect(rid, key, counter_id, scanned_at, by)
        outcome = "counted" if reason is None else "refused"
        result = ScanResult(scan_id, outcome, reason is not None, reason, rid)
        return await self._record(key, result, counter_id, by)

    async def _claim(self, rid: str, nonce: str, key: str) -> str:
        """The first scan to get here wins the voucher; returns the winner's key."""
        try:
            doc = await self.vouchers.find_one_and_update(
                {"_id": rid, "nonce": nonce, "winner": None},
                {"$set": {"winner": key}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except Exception as exc:  # the record exists with a winner (or another nonce)
            if not is_duplicate_key(exc):
                raise
            doc = await self.vouchers.find_one({"_id": rid})
        return str((doc or {}).get("winner"))

    async def _collect(
        self, rid: str, key: str, counter_id: str, at: datetime, by: str
    ) -> str | None:
        """The collection, once; None when done (now or by an earlier sync of this scan)."""
        doc = await self.mall.steps.get(rid)
        if doc["state"] in MOVING:
            doc = await self.mall.steps.advance(rid)
        fields = {
            "state": "fulfilled",
            "fulfilled_at": at,
            "fulfilled_by": by,
            "fulfilled_at_counter": counter_id,
            "voucher_scan": key,
            "updated_at": self._clock(),
        }
        moved = await self.mall.steps.redemptions.move(rid, "reserved", fields)
        current = moved or await self.mall.steps.get(rid)
        if current["state"] == "fulfilled" and current.get("voucher_scan") == key:
            await self.mall.steps.settle_stock(current)
            return None
        return str(InvalidTransition(current["state"], "collected with this voucher"))

    async def _record(self, key: str, result: ScanResult, counter_id: str, by: str) -> ScanResult:
        doc: Document = {
            "_id": key,
            "scan_id": result.scan_id,
            "redemption_id": result.redemption_id,
            "counter_id": counter_id,
            "outcome": result.outcome,
            "flagged": result.flagged,
            "reason": result.reason,
            "synced_by": by,
            "synced_at": self._clock(),
        }
        # A re-sync keeps the first record: its outcome is what the counter was told then.
        await insert_once(self.scans, doc)
        stored = await self.scans.find_one({"_id": key}) or doc
        return ScanResult(
            result.scan_id,
            stored["outcome"],
            stored["flagged"],
            stored["reason"],
            stored["redemption_id"],
        )

    async def scans_of(
        self, *, flagged: bool | None, rid: str | None, limit: int
    ) -> list[Document]:
        query: Document = {}
        if flagged is not None:
            query["flagged"] = flagged
        if rid:
            query["redemption_id"] = rid
        cursor = self.scans.find(query).sort("synced_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]
