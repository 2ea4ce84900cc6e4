"""Webhooks: partners subscribe endpoints to categories (optionally one fleet); each gets a
signing secret shown once and kept encrypted.
"""

from __future__ import annotations

from common.clock import Clock
from common.pii import PiiProtector
from notify.channels.signing import new_secret
from notify.channels.targets import TargetPolicy
from notify.domain import new_subscription_id
from notify.records import SIGNING_KEY_PURPOSE, Document
from notify.store.webhooks import WebhookStore


class Webhooks:
    def __init__(
        self, webhooks: WebhookStore, *, policy: TargetPolicy, pii: PiiProtector, clock: Clock
    ) -> None:
        self._webhooks = webhooks
        self._policy = policy
        self._pii = pii
        self._clock = clock

    async def subscribe(
        self, partner_id: str, url: str, categories: list[str], fleet: str | None
    ) -> tuple[Document, str]:
        await self._policy.check(url)
        secret = new_secret()
        doc: Document = {
            "_id": new_subscription_id(),
            "partner_id": partner_id,
            "url": url,
            "categories": sorted(set(categories)),
            "fleet": fleet,
            "active": True,
            "secret_enc": self._pii.encrypt(SIGNING_KEY_PURPOSE, secret),
            "created_at": self._clock(),
        }
        await self._webhooks.insert(doc)
        return doc, secret

    async def subscriptions(self, partner_id: str | None) -> list[Document]:
        """A partner's subscriptions; every one for None (operators)."""
        return await self._webhooks.of_partner(partner_id)

    async def unsubscribe(self, subscription_id: str, partner_id: str | None) -> bool:
        return await self._webhooks.delete(subscription_id, partner_id)
