"""The ``broker_rosters`` collection: per care broker, the drivers ever named to them.

A broker's workload starts from the roster, a document found by ``_id``, instead of asking
for the dossiers with that ``broker_id``, which the local store answers by reading every
dossier (issue 19). The dossier decides: readers keep only the drivers whose dossier names the
broker now (``DossierStore.brokered_among``). A driver is added before the dossier names the
broker and never taken off when another broker is named (only erasure removes a driver): a
removal could not be tied to the dossier in one write, and two supervisors naming brokers for
the same driver at once could then leave a driver off the roster of the broker the dossier
names. A roster from before rosters were kept (``listed`` absent) is filled once from the
dossiers.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]

ROSTERS = "broker_rosters"
DRIVERS = "drivers"
LISTED = "listed"


class RosterStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ROSTERS]

    async def get(self, broker_id: str) -> tuple[list[str], bool]:
        """The drivers on the broker's roster, and whether it lists every driver named to the
        broker before rosters were kept."""
        doc = await self.collection.find_one({"_id": broker_id})
        if doc is None:
            return [], False
        return list(doc.get(DRIVERS, [])), bool(doc.get(LISTED))

    async def add(self, broker_id: str, driver_id: str) -> None:
        await self.collection.update_one(
            {"_id": broker_id}, {"$addToSet": {DRIVERS: driver_id}}, upsert=True
        )

    async def fill(self, broker_id: str, driver_ids: list[str]) -> None:
        """List the drivers the dossiers named to the broker before rosters were kept."""
        await self.collection.update_one(
            {"_id": broker_id},
            {"$addToSet": {DRIVERS: {"$each": driver_ids}}, "$set": {LISTED: True}},
            upsert=True,
        )
