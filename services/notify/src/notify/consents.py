"""Notify's copy of the registry's consents it needs (``common.consents``), on the driver's
facts: ``consents.notifications`` (marketing broadcasts) and ``consents.location`` (the
``near`` segment). Withdrawing ``location`` also forgets the coarse cell where the driver was
last seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from notify.store.drivers import DRIVERS

FOLLOWED = ("notifications", "location")


class NotifyConsents:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._facts = db[DRIVERS]

    async def follow(self, driver_id: str, consents: dict[str, bool], at: datetime) -> None:
        answers = {f"consents.{p}": consents[p] for p in FOLLOWED if p in consents}
        if not answers:
            return
        update: dict[str, Any] = {"$set": {**answers, "consents_at": at}}
        if consents.get("location") is False:
            update["$unset"] = {"cell": ""}
        await self._facts.update_one({"_id": driver_id}, update)
