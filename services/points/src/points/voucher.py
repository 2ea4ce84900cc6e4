"""Mall vouchers as a counter checks them: offline, with the published public keys.

A voucher is a compact JWS (RFC 7515, ``EdDSA`` = Ed25519, signed by the points service) small
enough for a QR code: header ``{"alg", "kid", "typ": "dhv1"}`` and claims ``r`` (redemption
id), ``w`` (reward id), ``c`` (the counters that hand it over), ``exp`` (expiry, epoch
seconds) and ``n`` (a random nonce). A counter app keeps ``GET /v1/vouchers/keys`` as a file
(JWKS; each key has ``kid`` and ``not_after``), verifies with it without the network, and
queues the redemption in a local file that ``sync`` later submits; the points service decides
there which scan of a voucher counts (the first one it records).

    python -m points.voucher verify <voucher> --keys keys.json --counter C [--queue Q]
    python -m points.voucher sync --queue Q --url http://points:8002 (token: DRIVERHOME_TOKEN)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Document = dict[str, Any]

VOUCHER_TYPE = "dhv1"
ALGORITHM = "EdDSA"
DEFAULT_QUEUE = "voucher-queue.jsonl"


class VoucherRefused(ValueError):
    """The voucher is not genuine, not for this counter, expired or already redeemed here."""


@dataclass(frozen=True)
class Voucher:
    redemption_id: str
    reward_id: str
    counters: tuple[str, ...]
    expires_at: datetime
    nonce: str
    key_id: str


def _key_of(jwk: Document) -> Ed25519PublicKey:
    key = jwt.algorithms.OKPAlgorithm.from_jwk(jwk)
    if not isinstance(key, Ed25519PublicKey):
        raise VoucherRefused("a published key is not an Ed25519 public key")
    return key


def _not_after(jwk: Document) -> datetime | None:
    value = jwk.get("not_after")
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def verify_voucher(
    voucher: str, keys: Document, *, counter_id: str | None = None, now: datetime | None = None
) -> Voucher:
    """Check a voucher against a JWKS document; raises VoucherRefused saying why not.

    A key past its ``not_after`` still verifies the vouchers it signed before then: a voucher
    counts when its own expiry is not later than its key's ``not_after``.
    """
    try:
        header = jwt.get_unverified_header(voucher)
    except jwt.PyJWTError as exc:
        raise VoucherRefused("not a voucher") from exc
    if header.get("typ") != VOUCHER_TYPE or header.get("alg") != ALGORITHM:
        raise VoucherRefused("not a voucher")
    kid = str(header.get("kid", ""))
    jwk = next((k for k in keys.get("keys", []) if k.get("kid") == kid), None)
    if jwk is None:
        raise VoucherRefused(f"signed with an unknown key {kid!r}")
    try:
        claims = jwt.decode(
            voucher,
            _key_of(jwk),
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "require": ["exp", "r", "w", "c", "n"]},
        )
    except jwt.PyJWTError as exc:
        raise VoucherRefused("the signature does not match") from exc
    expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    if (limit := _not_after(jwk)) is not None and expires_at > limit:
        raise VoucherRefused("valid longer than its key may vouch for")
    if (now or datetime.now(UTC)) >= expires_at:
        raise VoucherRefused("expired")
    counters = tuple(str(c) for c in claims["c"])
    if counter_id is not None and counter_id not in counters:
        raise VoucherRefused(f"not handed over at counter {counter_id}")
    return Voucher(str(claims["r"]), str(claims["w"]), counters, expires_at, str(claims["n"]), kid)


class VoucherQueue:
    """The counter's local record of scans (JSON lines), rewritten whole by rename."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def items(self) -> list[Document]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _write(self, items: list[Document]) -> None:
        scratch = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
        scratch.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
        scratch.replace(self.path)

    def add(self, voucher: str, checked: Voucher, counter_id: str, at: datetime) -> Document:
        """Queue a redemption; a voucher this counter already took is refused here at once."""
        items = self.items()
        if any(i["nonce"] == checked.nonce for i in items):
            raise VoucherRefused("already redeemed at this counter")
        item = {
            "scan_id": uuid.uuid4().hex,
            "voucher": voucher,
            "nonce": checked.nonce,
            "counter_id": counter_id,
            "scanned_at": at.isoformat(),
            "synced": False,
        }
        self._write([*items, item])
        return item

    def pending(self) -> list[Document]:
        return [i for i in self.items() if not i["synced"]]

    def mark(self, results: list[Document]) -> None:
        by_scan = {r["scan_id"]: r for r in results}
        items = self.items()
        for item in items:
            if (result := by_scan.get(item["scan_id"])) is not None:
                item.update(synced=True, outcome=result["outcome"], reason=result.get("reason"))
        self._write(items)


def redeem_offline(
    voucher: str, keys: Document, queue: VoucherQueue, *, counter_id: str
) -> Document:
    """What a counter app does on a scan: verify, then queue (the library entry point)."""
    checked = verify_voucher(voucher, keys, counter_id=counter_id)
    return queue.add(voucher, checked, counter_id, datetime.now(UTC))


async def sync(
    queue: VoucherQueue, client: httpx.AsyncClient, headers: dict[str, str]
) -> list[Document]:
    """Submit every queued scan not yet accepted; safe to repeat (the service dedupes)."""
    pending = queue.pending()
    results: list[Document] = []
    for counter_id in sorted({i["counter_id"] for i in pending}):
        items = [
            {"scan_id": i["scan_id"], "voucher": i["voucher"], "scanned_at": i["scanned_at"]}
            for i in pending
            if i["counter_id"] == counter_id
        ]
        answer = await client.post(
            "/v1/vouchers/redemptions",
            json={"counter_id": counter_id, "items": items},
            headers=headers,
        )
        answer.raise_for_status()
        results.extend(answer.json()["items"])
    queue.mark(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m points.voucher")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="verify a voucher offline and queue it")
    check.add_argument("voucher")
    check.add_argument("--keys", required=True, type=Path, help="GET /v1/vouchers/keys, saved")
    check.add_argument("--counter", required=True)
    check.add_argument("--queue", type=Path, default=Path(DEFAULT_QUEUE))
    push = commands.add_parser("sync", help="submit the queued redemptions")
    push.add_argument("--queue", type=Path, default=Path(DEFAULT_QUEUE))
    push.add_argument("--url", default=os.environ.get("DRIVERHOME_POINTS_URL", ""))
    args = parser.parse_args(argv)
    queue = VoucherQueue(args.queue)
    if args.command == "verify":
        keys = json.loads(args.keys.read_text(encoding="utf-8"))
        try:
            item = redeem_offline(args.voucher, keys, queue, counter_id=args.counter)
        except VoucherRefused as exc:
            print(f"refused: {exc}")
            return 1
        print(f"accepted: queued as {item['scan_id']}")
        return 0
    headers = {"Authorization": f"Bearer {os.environ.get('DRIVERHOME_TOKEN', '')}"}
    for result in asyncio.run(_sync_over_http(queue, args.url, headers)):
        print(f"{result['scan_id']}: {result['outcome']} {result.get('reason') or ''}")
    return 0


async def _sync_over_http(queue: VoucherQueue, url: str, headers: dict[str, str]) -> list[Document]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await sync(queue, client, headers)


if __name__ == "__main__":
    sys.exit(main())
