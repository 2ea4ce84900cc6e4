"""Signed points statements: a driver's balance as of a date, with the entries behind it.

A school checks a family's points at its admission cut-off date. The statement says what the
balance was at the end of that date in the programme's local time (China Standard Time,
UTC+8, which has no daylight saving) and lists every applied ledger entry behind it, and is
signed with Ed25519 over its canonical JSON (keys sorted, no insignificant whitespace, UTF-8).
Anyone holding the statement and the public key can verify it, also offline; changing any
value (or any byte of the canonical document) makes the signature fail.

The entries are the ledger's applied entries in ``seq`` order created up to the cut-off: the
longest unbroken prefix of the history, so the balance is the exact ``balance_after`` of its
last entry (and equals the sum of the entries). Nothing personal is included beyond the
driver id and an optional child reference chosen by the caller: no names, and no operator
names or free-text reasons from adjustments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from common.clock import Clock
from common.settings import DISTRICT_TIMEZONE
from points.domain import Entry, PointsError
from points.ledger import EVENT_SOURCE, LedgerContention
from points.service import PointsService
from points.store.statements import StatementStore

Document = dict[str, Any]

STATEMENT_TYPE = "driverhome.points.statement.v1"
ALGORITHM = "Ed25519"


class StatementNotFound(PointsError):
    problem_detail = "no such statement"


class FutureDate(PointsError):
    pass


# signing ------------------------------------------------------------------------------------
def canonical(payload: Document) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


class Signer:
    def __init__(self, private_key_b64: str) -> None:
        seed = base64.b64decode(private_key_b64, validate=True)
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key()
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(raw).decode()
        self.public_key_pem = self.public_key.public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        ).decode()
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, payload: Document) -> str:
        return base64.b64encode(self._key.sign(canonical(payload))).decode()

    def verify(self, payload: Document, signature_b64: str) -> bool:
        try:
            document = canonical(payload)
        except ValueError:  # NaN or Infinity: nothing this service signs
            return False
        return verify_document(self.public_key, document, signature_b64)


def verify_document(public_key: Ed25519PublicKey, document: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, document)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# content ------------------------------------------------------------------------------------
def cutoff_of(as_of: date, zone: str = DISTRICT_TIMEZONE) -> datetime:
    """The first instant after ``as_of`` ends in the district's time zone."""
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history_prefix(entries: list[Entry]) -> list[Entry]:
    """The unbroken run of seq 1, 2, 3 … (applied entries are numbered without gaps)."""
    prefix: list[Entry] = []
    for entry in entries:
        if entry.seq != len(prefix) + 1:
            break
        prefix.append(entry)
    return prefix


def entry_line(entry: Entry) -> Document:
    cause = entry.cause
    # An adjustment's operator and free-text reason stay internal (they may name people).
    why = "manual adjustment" if entry.kind == "adjustment" else cause.event_type or entry.kind
    return {
        "seq": entry.seq,
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "created_at": _instant(entry.created_at),
        "occurred_at": _instant(entry.occurred_at),
        "cause_source": cause.source if entry.kind != "adjustment" else None,
        "cause": why,
        "rule": f"{entry.rule_id}@v{entry.rule_version}" if entry.rule_id else None,
        "reverses": entry.reverses,
    }


@dataclass(frozen=True)
class SignedStatement:
    statement: Document
    signature: str
    key_id: str
    algorithm: str = ALGORITHM


class Statements:
    def __init__(
        self,
        service: PointsService,
        store: StatementStore,
        signer: Signer,
        *,
        clock: Clock,
        zone: str = DISTRICT_TIMEZONE,
    ) -> None:
        self.service = service
        self.store = store
        self.signer = signer
        self._clock = clock
        self._zone = zone

    async def issue(
        self, driver_id: str, as_of: date, *, child_reference: str | None = None
    ) -> SignedStatement:
        await self.service.get_account(driver_id)  # AccountNotFound
        moving = await self.service.ledger.accounts.raw(driver_id)
        if moving is not None and moving.get("pending"):
            # An entry in the balance and announced but not marked applied yet (its batch is
            # ending, or the sweeper will finish what a crash left): the history read below
            # would stop before it and sign a balance that leaves it out.
            raise LedgerContention(driver_id)
        now = self._clock()
        if as_of > now.astimezone(ZoneInfo(self._zone)).date():
            raise FutureDate("a statement can only be made up to today")
        cutoff = cutoff_of(as_of, self._zone)
        # The store keeps milliseconds: "up to 1 ms before the cut-off" is "before the cut-off".
        entries = await self.service.ledger.entries.applied_until(
            driver_id, cutoff - timedelta(milliseconds=1)
        )
        prefix = history_prefix(entries)
        balance = prefix[-1].balance_after if prefix else 0
        payload: Document = {
            "type": STATEMENT_TYPE,
            "statement_id": f"st_{uuid.uuid4().hex}",
            "issuer": EVENT_SOURCE,
            "driver_id": driver_id,
            "child_reference": child_reference,
            "as_of": as_of.isoformat(),
            "cutoff": cutoff.isoformat(),
            "timezone": "UTC+08:00",
            "provisional": now < cutoff,
            "balance": balance,
            "entry_count": len(prefix),
            "entries": [entry_line(e) for e in prefix],
            "issued_at": _instant(now),
            "key_id": self.signer.key_id,
            "algorithm": ALGORITHM,
        }
        signature = self.signer.sign(payload)
        await self.store.insert(
            {
                "_id": payload["statement_id"],
                "driver_id": driver_id,
                "created_at": now,
                "statement": payload,
                "signature": signature,
            }
        )
        return SignedStatement(payload, signature, self.signer.key_id)

    async def get(self, statement_id: str) -> tuple[str, SignedStatement]:
        doc = await self.store.get(statement_id)
        if doc is None:
            raise StatementNotFound(statement_id)
        statement = doc["statement"]
        return str(doc["driver_id"]), SignedStatement(
            statement, str(doc["signature"]), str(statement.get("key_id"))
        )

    def verify(self, statement: Document, signature: str) -> tuple[bool, str]:
        if statement.get("key_id") != self.signer.key_id:
            return False, "not signed with this service's current key"
        if not self.signer.verify(statement, signature):
            return False, "the signature does not match the statement"
        return True, "the statement is as issued"
