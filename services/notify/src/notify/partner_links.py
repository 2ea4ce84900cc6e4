"""Which partner webhooks may carry a driver's notifications: only those of partners the
registry linked to the driver (common.partner_links), and only while the driver has given the
registry's ``notifications`` consent (``driver.updated.v1`` with ``consents``), both followed
from ``registry.events``.

Kept apart from the driver's own channels and their consents (marketing is decided where the
driver's channels are chosen): a webhook hands the driver's data to a third party, so it
needs the link and the consent, whatever the category.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.dispatch import EventHandler, on
from common.events.registry import DriverDeactivated, DriverUpdated
from common.mongo import Indexes, is_duplicate_key
from common.partner_links import PartnerLinkBook, following_links, in_turn

Document = dict[str, Any]

CONSENTS = "webhook_consents"
INDEXES = [Indexes(CONSENTS)]
PURPOSE = "notifications"


class NotificationConsents:
    """The driver's latest ``notifications`` consent, as the registry announced it."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CONSENTS]

    async def on_driver_updated(self, data: DriverUpdated) -> None:
        if data.consents is None or PURPOSE not in data.consents:
            return
        granted, at = data.consents[PURPOSE], data.updated_at
        kept = await self.collection.update_one(
            {"_id": data.driver_id, "at": {"$lte": at}}, {"$set": {"granted": granted, "at": at}}
        )
        if kept.matched_count:
            return
        try:
            await self.collection.insert_one({"_id": data.driver_id, "granted": granted, "at": at})
        except Exception as exc:  # a newer answer is kept already
            if not is_duplicate_key(exc):
                raise

    async def granted(self, driver_ids: Sequence[str]) -> set[str]:
        cursor = self.collection.find({"_id": {"$in": list(driver_ids)}, "granted": True})
        return {doc["_id"] async for doc in cursor}

    async def on_deactivated(self, data: DriverDeactivated) -> None:
        if data.erased:
            await self.collection.delete_one({"_id": data.driver_id})


class PartnerAudience:
    def __init__(self, links: PartnerLinkBook, consents: NotificationConsents) -> None:
        self.links = links
        self.consents = consents

    async def per_driver(
        self, driver_ids: Sequence[str], subscriptions: list[Document]
    ) -> dict[str, list[Document]]:
        """Each driver's share of these subscriptions: those of partners linked to a driver
        who consents to notifications; nobody else's."""
        if not subscriptions:
            return {d: [] for d in driver_ids}
        consenting = await self.consents.granted(driver_ids)
        linked = await self.links.partners_of(d for d in driver_ids if d in consenting)
        return {
            d: [s for s in subscriptions if s["partner_id"] in linked.get(d, set())]
            for d in driver_ids
        }

    def following(self, handlers: dict[str, EventHandler]) -> dict[str, EventHandler]:
        """Notify's registry.events handlers, also keeping the links and the consent."""
        combined = following_links(self.links, handlers)
        own: dict[str, EventHandler] = {
            "driver.updated.v1": on(DriverUpdated, self.consents.on_driver_updated),
            "driver.deactivated.v1": on(DriverDeactivated, self.consents.on_deactivated),
        }
        for event_type, first in own.items():
            then = combined.get(event_type)
            combined[event_type] = first if then is None else in_turn(first, then)
        return combined
