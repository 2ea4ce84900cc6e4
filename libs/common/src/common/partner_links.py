"""Which partner may reach which driver: every service's own read model of the registry's links.

The registry alone decides links (a driver registered through a partner, or one who confirmed
a partner's request); it announces them on ``registry.events``: ``driver.registered.v1`` with
its ``partner_id``, ``driver.partner_linked.v1`` and ``driver.partner_unlinked.v1``. Each
service answering partners follows those events into its own ``partner_links`` collection
(no call into the registry) and asks this book in its use cases before a partner reaches a
driver's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.auth import Principal
from common.dispatch import EventHandler, on
from common.events import CloudEvent, EventData
from common.events.registry import (
    DriverDeactivated,
    DriverPartnerLinked,
    DriverPartnerUnlinked,
    DriverRegistered,
)
from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

PARTNER_LINKS = "partner_links"
INDEXES = [Indexes(PARTNER_LINKS, (IndexModel([("driver_id", 1)], name="driver"),))]


def _key(partner_id: str, driver_id: str) -> str:
    return f"{partner_id}\x1f{driver_id}"


class PartnerLinkBook:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[PARTNER_LINKS]

    async def note(self, partner_id: str, driver_id: str, *, linked: bool, at: datetime) -> None:
        """Record a link or its end; a fact older than the one kept changes nothing."""
        key = _key(partner_id, driver_id)
        kept = await self.collection.update_one(
            {"_id": key, "at": {"$lte": at}}, {"$set": {"linked": linked, "at": at}}
        )
        if kept.matched_count:
            return
        doc = {"_id": key, "partner_id": partner_id, "driver_id": driver_id}
        try:
            await self.collection.insert_one({**doc, "linked": linked, "at": at})
        except Exception as exc:  # a newer fact is kept already
            if not is_duplicate_key(exc):
                raise

    async def is_linked(self, partner_id: str | None, driver_id: str) -> bool:
        if not partner_id:
            return False
        found = await self.collection.find_one(
            {"_id": _key(partner_id, driver_id), "linked": True}, {"_id": 1}
        )
        return found is not None

    async def may_reach(self, principal: Principal, driver_id: str) -> bool:
        """A partner reaches only its linked drivers; other roles are not this book's to judge."""
        return principal.role != "partner" or await self.is_linked(principal.partner_id, driver_id)

    async def partners_of(self, driver_ids: Iterable[str]) -> dict[str, set[str]]:
        """The partners linked to each of these drivers (absent: none)."""
        ids = list(dict.fromkeys(driver_ids))
        found: dict[str, set[str]] = {}
        if not ids:
            return found
        cursor = self.collection.find({"driver_id": {"$in": ids}, "linked": True})
        async for doc in cursor:
            found.setdefault(doc["driver_id"], set()).add(doc["partner_id"])
        return found

    async def forget(self, driver_id: str) -> None:
        await self.collection.delete_many({"driver_id": driver_id})

    # ---- following registry.events ---------------------------------------------------------

    async def on_linked(self, data: DriverPartnerLinked) -> None:
        await self.note(data.partner_id, data.driver_id, linked=True, at=data.linked_at)

    async def on_unlinked(self, data: DriverPartnerUnlinked) -> None:
        await self.note(data.partner_id, data.driver_id, linked=False, at=data.unlinked_at)

    async def on_registered(self, data: DriverRegistered) -> None:
        if data.partner_id:
            await self.note(data.partner_id, data.driver_id, linked=True, at=data.registered_at)

    async def on_deactivated(self, data: DriverDeactivated) -> None:
        if data.erased:
            await self.forget(data.driver_id)


def following_links(
    book: PartnerLinkBook, handlers: dict[str, EventHandler]
) -> dict[str, EventHandler]:
    """A service's ``registry.events`` handlers, also keeping its partner links.

    The book notes a fact before the service's own handler runs; both are idempotent, so a
    redelivery after a failure in between only notes it again.
    """
    own: dict[str, EventHandler] = {
        "driver.registered.v1": on(DriverRegistered, book.on_registered),
        "driver.deactivated.v1": on(DriverDeactivated, book.on_deactivated),
        "driver.partner_linked.v1": on(DriverPartnerLinked, book.on_linked),
        "driver.partner_unlinked.v1": on(DriverPartnerUnlinked, book.on_unlinked),
    }
    combined = dict(handlers)
    for event_type, first in own.items():
        then = handlers.get(event_type)
        combined[event_type] = first if then is None else in_turn(first, then)
    return combined


def in_turn(first: EventHandler, then: EventHandler) -> EventHandler:
    """One handler running two for the same event, the second after the first succeeded."""

    async def handle(event: CloudEvent, data: EventData) -> None:
        await first(event, data)
        await then(event, data)

    return handle
