"""Notify's copy of the registry's consents it needs (``common.consents``), on the driver's
facts: ``consents.notifications`` (marketing broadcasts) and ``consents.location`` (the
``near`` segment). Withdrawing ``location`` also forgets the coarse cell where the driver was
last seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import announced_after
from notify.store.drivers import DRIVERS

FOLLOWED = ("notifications", "location")


class NotifyConsents:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._facts = db[DRIVERS]

    async def follow(self, driver_id: str, consents: dict[str, bool], at: datetime) -> None:
        for purpose in FOLLOWED:
            if purpose not in consents:
                continue
            # Newest answer per purpose wins: a dead letter replayed after a newer answer (to
            # this purpose) must not undo it.
            when = f"consent_at.{purpose}"
            update: dict[str, Any] = {"$set": {f"consents.{purpose}": consents[purpose], when: at}}
            if purpose == "location" and consents[purpose] is False:
                update["$unset"] = {"cell": ""}
            await self._facts.update_one({"_id": driver_id, **announced_after(when, at)}, update)
