"""Partner accounts: seeded from the configured catalogue, managed by operators, and every
change announced on ``partners.events`` through the account's outbox.

Each change writes the account's next version with one conditional update (the version it read),
and the event carrying the account's new state in the same document; the relay publishes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from common.clock import Clock, utc_now
from common.events import CloudEvent, EventData, new_event
from common.events.partners import (
    PartnerRegistered,
    PartnerReinstated,
    PartnerSuspended,
    PartnerUpdated,
)
from common.logging import get_logger
from common.outbox import RelayRef, no_relay, outbox_entry, publish_now
from common.partners import PartnerCatalogue
from common.pii import PiiProtector
from common.webhook_signing import new_secret
from partners.domain import (
    Partner,
    PartnerChanged,
    PartnerExists,
    PartnerNotFound,
    Quotas,
    checked_types,
)
from partners.store.partners import PartnerStore

log = get_logger(__name__)

SOURCE = "driverhome/partners"
TOPIC = "partners.events"
TopicMaker = Callable[[str], Awaitable[None]]
_UNSET: Any = object()


async def no_topics(partner_id: str) -> None:
    return None


class Accounts:
    def __init__(
        self,
        store: PartnerStore,
        pii: PiiProtector,
        *,
        relay: RelayRef = no_relay,
        make_topic: TopicMaker = no_topics,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self._pii = pii
        self._relay = relay
        self._make_topic = make_topic
        self._clock = clock

    async def get(self, partner_id: str) -> Partner:
        partner = await self.store.get(partner_id)
        if partner is None:
            raise PartnerNotFound(partner_id)
        return partner

    async def page(self, after: str | None, limit: int) -> list[Partner]:
        return await self.store.page(after, limit)

    async def seed(self, catalogue: PartnerCatalogue) -> int:
        """Register every configured partner not yet known; returns how many were new."""
        added = 0
        for partner_id, types in catalogue.items():
            try:
                await self.register(partner_id, partner_id, types)
                added += 1
            except PartnerExists:
                continue
        return added

    async def register(
        self,
        partner_id: str,
        name: str,
        allowed_types: list[str],
        *,
        contact: str | None = None,
        quotas: Quotas | None = None,
    ) -> Partner:
        now = self._clock()
        partner = Partner(
            partner_id=partner_id,
            name=name,
            allowed_types=checked_types(allowed_types),
            contact=contact,
            quotas=quotas or Quotas(),
            created_at=now,
            updated_at=now,
        )
        # The topic first: an announced partner whose topic is missing could not be written to.
        await self._make_topic(partner_id)
        event = self._event(PartnerRegistered(**partner.state().model_dump()), partner)
        if not await self.store.insert_new(partner, [outbox_entry(TOPIC, event)]):
            raise PartnerExists(partner_id)
        await self._announce(partner_id)
        return partner

    async def update(
        self,
        partner_id: str,
        *,
        name: str | None = None,
        allowed_types: list[str] | None = None,
        contact: str | None = _UNSET,
        quotas: Quotas | None = None,
    ) -> Partner:
        current = await self.get(partner_id)
        changes: dict[str, Any] = {}
        if name is not None and name != current.name:
            changes["name"] = name
        if allowed_types is not None:
            types = checked_types(allowed_types)
            if types != current.allowed_types:
                changes["allowed_types"] = types
        if contact is not _UNSET and contact != current.contact:
            changes["contact"] = contact
        if quotas is not None and quotas != current.quotas:
            changes["quotas"] = quotas
        if not changes:
            return current
        announced = [f for f in changes if f in ("name", "allowed_types")]
        return await self._change(
            current,
            changes,
            lambda p: (
                PartnerUpdated(**p.state().model_dump(), changed_fields=announced)
                if announced
                else None
            ),
        )

    async def suspend(self, partner_id: str, reason: str) -> Partner:
        current = await self.get(partner_id)
        if current.status == "suspended":
            return current
        return await self._change(
            current,
            {"status": "suspended", "suspended_reason": reason},
            lambda p: PartnerSuspended(**p.state().model_dump(), reason=reason),
        )

    async def reinstate(self, partner_id: str) -> Partner:
        current = await self.get(partner_id)
        if current.status == "active":
            return current
        return await self._change(
            current,
            {"status": "active", "suspended_reason": None},
            lambda p: PartnerReinstated(**p.state().model_dump()),
        )

    async def set_webhook(self, partner_id: str, url: str | None) -> tuple[Partner, str | None]:
        """Point the partner's webhook at ``url`` with a new signing secret (shown once), or
        remove it (``None``)."""
        current = await self.get(partner_id)
        secret = new_secret() if url else None
        changes = {
            "webhook_url": url,
            "webhook_secret_enc": self._pii.encrypt("webhook_secret", secret) if secret else None,
        }
        return await self._change(current, changes, lambda p: None), secret

    def webhook_secret(self, partner: Partner) -> str | None:
        if partner.webhook_secret_enc is None:
            return None
        return self._pii.decrypt("webhook_secret", partner.webhook_secret_enc)

    async def _change(
        self,
        current: Partner,
        changes: dict[str, Any],
        announce: Callable[[Partner], EventData | None],
    ) -> Partner:
        now = self._clock()
        updated = current.model_copy(
            update={**changes, "version": current.version + 1, "updated_at": now}
        )
        data = announce(updated)
        outbox = [outbox_entry(TOPIC, self._event(data, updated))] if data else []
        if not await self.store.replace_version(updated, current.version, outbox):
            raise PartnerChanged()
        if outbox:
            await self._announce(current.partner_id)
        return updated

    def _event(self, data: EventData, partner: Partner) -> CloudEvent:
        # The id names the version, so a republished outbox entry is the same event.
        return new_event(
            data,
            source=SOURCE,
            subject=partner.partner_id,
            event_id=f"{partner.partner_id}.v{partner.version}",
            time=partner.updated_at,
        )

    async def _announce(self, partner_id: str) -> None:
        await publish_now(self._relay, self.store.collection, partner_id)
