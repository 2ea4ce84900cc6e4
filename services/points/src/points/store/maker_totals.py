"""The ``maker_totals`` collection: the points each operator adjusted alone lately.

Four eyes holds back an adjustment of more than ``adjustment_approval_threshold`` points; judged
one request at a time, the same maker would split a large credit into many small ones. One
document per maker lists the adjustments they applied without a second person within the
rolling window (``adjustment_window_hours``): each by a hash of its driver and request key,
its size (either sign counts) and when it was asked. A new one applies alone only while the
window's total with it stays within the threshold; otherwise it waits for a second person.

The list is rewritten by one conditional update pinned to the document's version ``v``, as a
balance is pinned to its account's ``seq``: of two requests that read the same total at once,
one is counted and the other reads again and is judged on the new total. Only the adjustment
route writes here; the earning path never does.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.clock import Clock
from common.mongo import Indexes

Document = dict[str, Any]

MAKER_TOTALS = "maker_totals"
# A maker's document outlives its last adjustment by the window; the purge removes it once
# that end is older than the dedupe retention, when nothing in it counts any more.
INDEXES = [Indexes(MAKER_TOTALS, (IndexModel([("until", 1)], name="until"),), purge_by="until")]
# Reads and conditional writes before giving up under contention (one maker's own requests
# racing): the adjustment then waits for a second person rather than apply uncounted.
ATTEMPTS = 5


def request_key(driver_id: str, request_id: str) -> str:
    # The adjustment's own identity beside its maker (its entry id's parts), hashed: the
    # driver's id is not kept in an operator's counter.
    return hashlib.sha256(f"{driver_id}\x1f{request_id}".encode()).hexdigest()[:32]


class MakerTotals:
    def __init__(
        self, db: AsyncDatabase[Document], *, limit: int, window: timedelta, clock: Clock
    ) -> None:
        self.collection = db[MAKER_TOTALS]
        self.limit = limit
        self.window = window
        self._clock = clock

    async def current(self, maker: str) -> Document | None:
        return await self.collection.find_one({"_id": maker})

    async def take(self, maker: str, driver_id: str, request_id: str, amount: int) -> bool:
        """Count ``amount`` points (absolute) against the maker's window; False when the total
        would pass the limit, and nothing is counted. The same request asked again (its key)
        is counted once."""
        key = request_key(driver_id, request_id)
        for _ in range(ATTEMPTS):
            now = self._clock()
            doc = await self.current(maker)
            recent = [e for e in (doc or {}).get("recent", []) if e["at"] > now - self.window]
            if any(e["k"] == key for e in recent):
                return True
            if sum(int(e["n"]) for e in recent) + amount > self.limit:
                return False
            fields = {
                "recent": [*recent, {"k": key, "n": amount, "at": now}],
                "until": now + self.window,
            }
            if doc is None:
                try:
                    await self.collection.insert_one({"_id": maker, "v": 1, **fields})
                    return True
                except DuplicateKeyError:
                    continue  # another request of the maker's counted first: read again
            counted = await self.collection.update_one(
                {"_id": maker, "v": doc["v"]}, {"$set": fields, "$inc": {"v": 1}}
            )
            if counted.modified_count == 1:
                return True
        return False
