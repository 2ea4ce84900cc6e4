"""Earning follows the driver's ``points`` consent (``common.consents``).

While the driver has withdrawn it, an earning event is refused: it goes to its topic's
dead-letter queue with the reason ``points_consent_withdrawn`` (a partner sees it among its
rejections), nothing is parked and nothing is credited later. Giving the consent again lets
the next events earn. A compensation a caseworker granted is not earning and is not refused.

The same look at the account refuses (``driver_erased``) an earning event for a driver whose
data was erased (a closed account): parking it would store what the event says about them.

That look reads the whole account and hands it on: the ledger starts its award from it
(``Ledger.post``'s ``seen``) instead of reading the account again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.events import CloudEvent, InvalidEvent
from common.mongo import announced_after
from points.store.accounts import ACCOUNTS

PURPOSE = "points"
REFUSED = "points_consent_withdrawn"
ERASED = "driver_erased"
CONSENT_AT = "points_consent_at"


class EarningConsent:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._accounts = db[ACCOUNTS]

    async def follow(self, driver_id: str, consents: dict[str, bool], at: datetime) -> None:
        if PURPOSE not in consents:
            return
        # Newest answer wins: a dead letter replayed after a newer answer must not undo it.
        await self._accounts.update_one(
            {"_id": driver_id, **announced_after(CONSENT_AT, at)},
            {"$set": {"earning_paused": not consents[PURPOSE], CONSENT_AT: at}},
        )

    async def require(self, event: CloudEvent) -> dict[str, Any] | None:
        """The event's driver's account as read now, unless the event must be refused; None
        when the account is not open yet (the event is parked until it is, as before)."""
        account = await self._accounts.find_one({"_id": event.subject})
        if account is None:
            return None
        if account.get("earning_paused"):
            raise InvalidEvent(
                REFUSED, "the driver has withdrawn consent to points: the event earns nothing"
            )
        if account.get("status") == "closed":
            # Erased: parking it would keep the event's data about the driver again.
            raise InvalidEvent(ERASED, "the driver's personal data was erased")
        return account
