"""Webhooks: partners subscribe endpoints to categories (optionally one fleet); each gets a
signing secret shown once and kept encrypted.

A partner the partners service suspended (``partner.suspended.v1`` on ``partners.events``, read
into the runtime's partner directory) neither subscribes nor lists its subscriptions, and
nothing is sent to them (``notify.delivery``) until it is reinstated. It may still unsubscribe:
that only narrows what would reach it.
"""

from __future__ import annotations

from common.clock import Clock
from common.partner_directory import PartnerDirectory
from common.pii import PiiProtector
from notify.channels.signing import new_secret
from notify.channels.targets import TargetPolicy
from notify.domain import PartnerSuspended, new_subscription_id
from notify.records import SIGNING_KEY_PURPOSE, Document
from notify.store.webhooks import WebhookStore


def is_suspended(directory: PartnerDirectory, partner_id: str) -> bool:
    """Whether ``partners.events`` last announced the partner suspended. Only an announced
    suspension counts: a partner the directory does not know (a platform without the partners
    service) keeps its webhooks, as before."""
    entry = directory.get(partner_id)
    return entry is not None and entry.status != "active"


class Webhooks:
    def __init__(
        self,
        webhooks: WebhookStore,
        *,
        policy: TargetPolicy,
        pii: PiiProtector,
        clock: Clock,
        directory: PartnerDirectory,
    ) -> None:
        self._webhooks = webhooks
        self._policy = policy
        self._pii = pii
        self._clock = clock
        self._directory = directory

    async def subscribe(
        self, partner_id: str, url: str, categories: list[str], fleet: str | None
    ) -> tuple[Document, str]:
        self._refuse_suspended(partner_id)
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
        """A partner's subscriptions; every one for None (operators, also while a partner is
        suspended)."""
        if partner_id is not None:
            self._refuse_suspended(partner_id)
        return await self._webhooks.of_partner(partner_id)

    async def unsubscribe(self, subscription_id: str, partner_id: str | None) -> bool:
        return await self._webhooks.delete(subscription_id, partner_id)

    def _refuse_suspended(self, partner_id: str) -> None:
        if is_suspended(self._directory, partner_id):
            raise PartnerSuspended(partner_id)
