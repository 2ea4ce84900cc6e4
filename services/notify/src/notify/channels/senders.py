"""The external channels: partner webhooks and the SMS gateway, one HTTP call per attempt.

Each ``send`` raises :class:`DeliveryError` saying whether trying again can help; retries,
backoff and the circuit breaker belong to the dispatcher.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from common.clock import Clock
from common.webhook_targets import PinnedClient
from notify.channels.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from notify.domain import UnsafeTarget


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Outcome:
    """``delivered`` when the far end confirmed receipt; ``sent`` when it only accepted."""

    status: str
    reference: str | None = None


# 408, 425, 429 and 5xx are the far end's temporary trouble; other 4xx will not improve.
_TEMPORARY_CLIENT_ERRORS = (408, 425, 429)
_FIRST_SERVER_ERROR = 500


def _http_failure(response: httpx.Response) -> DeliveryError:
    code = response.status_code
    retryable = code >= _FIRST_SERVER_ERROR or code in _TEMPORARY_CLIENT_ERRORS
    return DeliveryError(f"http_{code}", retryable=retryable)


class WebhookSender:
    """Posts through a :class:`PinnedClient` (its policy is notify's ``TargetPolicy``): the target
    is checked before each send and the request goes to the address that was checked."""

    def __init__(self, client: PinnedClient, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    async def send(
        self, *, url: str, secret: str, delivery_id: str, payload: dict[str, Any]
    ) -> Outcome:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(self._clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            DELIVERY_HEADER: delivery_id,
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except UnsafeTarget as exc:
            raise DeliveryError(f"unsafe_target: {exc.reason}", retryable=False) from exc
        except httpx.TimeoutException as exc:
            raise DeliveryError("timeout", retryable=True) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"connection: {type(exc).__name__}", retryable=True) from exc
        if response.is_success:
            return Outcome("delivered")
        raise _http_failure(response)


class SmsGateway:
    """The common provider-style API: POST JSON with an API key, answer ``{"code": "OK"}``.

    The provider confirms the handset's receipt later on the receipts endpoint, so a message
    it accepted is ``sent``, not yet ``delivered``.
    """

    def __init__(
        self, client: httpx.AsyncClient, *, url: str | None, api_key: str | None, sign_name: str
    ) -> None:
        self._client = client
        self._url = url
        self._api_key = api_key
        self._sign_name = sign_name

    @property
    def configured(self) -> bool:
        return bool(self._url and self._api_key)

    async def send(self, *, phone: str, text: str, out_id: str) -> Outcome:
        if not self._url or not self._api_key:
            raise DeliveryError("sms_gateway_not_configured", retryable=False)
        body = {
            "phone_numbers": phone,
            "sign_name": self._sign_name,
            "content": text,
            "out_id": out_id,
        }
        try:
            response = await self._client.post(
                self._url, json=body, headers={"Authorization": f"Bearer {self._api_key}"}
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError("timeout", retryable=True) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"connection: {type(exc).__name__}", retryable=True) from exc
        if not response.is_success:
            raise _http_failure(response)
        try:
            answer = response.json()
        except ValueError as exc:
            raise DeliveryError("gateway_bad_answer", retryable=True) from exc
        code = str(answer.get("code", "")) if isinstance(answer, dict) else ""
        if code != "OK":
            # Provider codes name the problem (bad number, blocked content): retrying repeats it.
            raise DeliveryError(f"gateway_{code or 'error'}"[:80], retryable=False)
        reference = answer.get("biz_id") or answer.get("message_id")
        return Outcome("sent", str(reference) if reference else None)
