"""Rejection notices to partners' webhooks, signed like notify's (``common.webhook_signing``).

Each rejection owes its partner one notice, recorded with the rejection itself. A sender takes
a due notice under a lease (so instances do not send the same one together), posts it, and marks
it delivered; a failure is retried with growing delays up to a bounded number of attempts. The
delivery id header (the rejection id) lets the partner drop a notice that arrives twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import timedelta
from typing import Any

import httpx

from common.logging import describe_error, get_logger
from common.webhook_signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from partners.accounts import Accounts, Clock, utc_now
from partners.receipts import rejection_view
from partners.store.rejections import RejectionStore

log = get_logger(__name__)

Document = dict[str, Any]


class RejectionNotices:
    def __init__(
        self,
        rejections: RejectionStore,
        accounts: Accounts,
        *,
        timeout_seconds: float,
        max_attempts: int,
        backoff_max_seconds: float,
        sweep_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._rejections = rejections
        self._accounts = accounts
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff_max = backoff_max_seconds
        self._sweep_seconds = sweep_seconds
        self._transport = transport
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def send_due(self) -> int:
        """Send every notice due now; returns how many were delivered."""
        delivered = 0
        lease = timedelta(seconds=self._timeout + 5)
        while (due := await self._rejections.claim_due_notice(self._clock(), lease)) is not None:
            delivered += await self._send(due)
        return delivered

    async def _send(self, rejection: Document) -> int:
        rejection_id = rejection["_id"]
        partner = await self._accounts.store.get(rejection["partner_id"])
        secret = self._accounts.webhook_secret(partner) if partner else None
        if partner is None or partner.webhook_url is None or secret is None:
            await self._rejections.notice_done(rejection_id, "no_webhook", self._clock())
            return 0
        body = json.dumps(
            {"kind": "rejection", "rejection": rejection_view(rejection)},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: rejection_id,
        }
        try:
            answer = await self._http().post(partner.webhook_url, content=body, headers=headers)
            if 200 <= answer.status_code < 300:
                await self._rejections.notice_done(rejection_id, "delivered", self._clock())
                return 1
            error = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            error = describe_error(exc)
        attempts = int(rejection["webhook"]["attempts"])
        if attempts >= self._max_attempts:
            await self._rejections.notice_done(rejection_id, "failed", self._clock())
            log.warning("webhook notice given up", partner_id=partner.partner_id, error=error)
            return 0
        delay = min(self._backoff_max, 2.0**attempts)
        await self._rejections.notice_later(
            rejection_id, self._clock() + timedelta(seconds=delay), error
        )
        return 0

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            )
        return self._client

    async def _run(self) -> None:
        while True:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store away: the next sweep tries again
                log.warning("webhook notices failed", error=describe_error(exc))
            await asyncio.sleep(self._sweep_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="partners-webhook-notices")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
