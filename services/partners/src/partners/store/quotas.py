"""The ``quotas`` collection: one small document per partner and window (second, day).

A window's counter moves by one conditional update: ``used`` may only grow while it stays
within the limit, and a new window restarts the counter. Refused requests use nothing.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key

Document = dict[str, Any]

QUOTAS = "quotas"
INDEXES = [Indexes(QUOTAS)]


class QuotaStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[QUOTAS]

    async def take(self, key: str, window: int | str, amount: int, limit: int) -> bool:
        """Use ``amount`` of ``key``'s ``limit`` in ``window``; False when it does not fit."""
        if amount > limit:
            return False
        for _ in range(3):
            same_window = await self.collection.update_one(
                {"_id": key, "window": window, "used": {"$lte": limit - amount}},
                {"$inc": {"used": amount}},
            )
            if same_window.modified_count:
                return True
            # Windows only move forward (seconds and ISO dates both compare in order).
            new_window = await self.collection.update_one(
                {"_id": key, "window": {"$lt": window}},
                {"$set": {"window": window, "used": amount}},
            )
            if new_window.modified_count:
                return True
            try:
                await self.collection.insert_one({"_id": key, "window": window, "used": amount})
                return True
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
            # Someone opened this window meanwhile: try again, unless it is already too full.
            current = await self.collection.find_one({"_id": key}) or {}
            if current.get("window") == window and int(current.get("used", 0)) > limit - amount:
                return False
            if current.get("window") is not None and current["window"] > window:
                # A concurrent request already moved to the next window (it read the clock a
                # moment later): count this one there rather than refuse it for being late.
                window = current["window"]
        return False
