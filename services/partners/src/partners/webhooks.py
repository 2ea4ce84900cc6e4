"""Notices to partners' webhooks, signed like notify's (``common.webhook_signing``).

Three kinds: ``rejection`` (a consumer dead-lettered one of the partner's records),
``driver.linked`` (the registry announced the driver id of a reference the partner registered)
and ``event.parked_too_long`` (an event waits for its driver longer than the gateway's
threshold). Each is owed once (``store/notices.py``); a sender takes a due notice under a lease
(so instances do not send the same one together), posts it, and marks it delivered; a failure
is retried with growing delays up to a bounded number of attempts. The delivery id header (the
notice id) lets the partner drop a notice that arrives twice. A partner whose endpoint failed
or timed out gets no further notice in that round, so one slow endpoint delays only its own
notices, not every partner's. Notices go through ``common.webhook_targets.PinnedClient``: a
webhook resolving to an internal address is refused, and the request goes to the address that
was checked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import httpx

from common.clock import Clock, utc_now
from common.logging import describe_error, get_logger
from common.periodic import Periodic
from common.webhook_signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from common.webhook_targets import PinnedClient, UnsafeTarget
from partners.accounts import Accounts
from partners.store.notices import NoticeStore

log = get_logger(__name__)

Document = dict[str, Any]
Sent = Literal["delivered", "failed", "dropped"]


@dataclass(frozen=True)
class Sending:
    """How notices are sent: per-request timeout, attempts, the longest backoff, the round."""

    timeout_seconds: float
    max_attempts: int
    backoff_max_seconds: float
    sweep_seconds: float


class WebhookNotices:
    def __init__(
        self,
        notices: NoticeStore,
        accounts: Accounts,
        sending: Sending,
        client: PinnedClient,
        *,
        scans: Sequence[Callable[[], Awaitable[int]]] = (),
        clock: Clock = utc_now,
    ) -> None:
        self._notices = notices
        # Run before each round of sending: they owe notices found by looking (parked too long).
        self._scans = list(scans)
        self._accounts = accounts
        self._timeout = sending.timeout_seconds
        self._max_attempts = sending.max_attempts
        self._backoff_max = sending.backoff_max_seconds
        self.client = client
        self._clock = clock
        self._loop = Periodic("partners-webhook-notices", sending.sweep_seconds, self.send_due)

    async def send_due(self) -> int:
        """Owe what the scans find, then send every notice due now; returns how many were
        delivered."""
        for scan in self._scans:
            await scan()
        delivered = 0
        failing: set[str] = set()
        lease = timedelta(seconds=self._timeout + 5)
        while (
            due := await self._notices.claim_due(self._clock(), lease, skip=failing)
        ) is not None:
            sent = await self._send(due)
            delivered += sent == "delivered"
            if sent == "failed":
                failing.add(due["partner_id"])
        return delivered

    async def _send(self, notice: Document) -> Sent:
        notice_id = notice["_id"]
        partner = await self._accounts.store.get(notice["partner_id"])
        secret = self._accounts.webhook_secret(partner) if partner else None
        if partner is None or partner.webhook_url is None or secret is None:
            await self._notices.done(notice_id, "no_webhook", self._clock())
            return "dropped"
        body = json.dumps(notice["body"], ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: notice_id,
        }
        try:
            answer = await self.client.post(partner.webhook_url, content=body, headers=headers)
            if answer.is_success:
                await self._notices.done(notice_id, "delivered", self._clock())
                return "delivered"
            error = f"HTTP {answer.status_code}"
        except UnsafeTarget as exc:
            # Trying again reaches the same addresses: refused for good, and said so in the log.
            await self._notices.done(notice_id, "unsafe_target", self._clock())
            log.warning("webhook target refused", partner_id=partner.partner_id, reason=exc.reason)
            return "dropped"
        except httpx.HTTPError as exc:
            error = describe_error(exc)
        attempts = int(notice["attempts"])
        if attempts >= self._max_attempts:
            await self._notices.done(notice_id, "failed", self._clock())
            log.warning(
                "webhook notice given up",
                partner_id=partner.partner_id,
                kind=notice["kind"],
                error=error,
            )
            return "failed"
        delay = min(self._backoff_max, 2.0**attempts)
        await self._notices.later(notice_id, self._clock() + timedelta(seconds=delay), error)
        return "failed"

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
