"""The ledger's last two steps for a batch's awards: each entry marked applied and its mark
taken off its account, in one bulk write each at the end of the batch (``common.batch_end``)
instead of two writes per entry.

Until then an applied entry reads as ``pending`` with its account's mark on it, the state a
crash between the ledger's steps leaves; the balance and the announcement are already out.
A batch that ends without these writes is never committed: its records are handled again and
the ledger finishes each entry from its account's mark (``points.ledger``), and the sweeper
finishes any older than its cutoff.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.faults import Faults
from points.store.accounts import AccountStore
from points.store.entries import EntryStore

Document = dict[str, Any]


class Finishes:
    def __init__(self, entries: EntryStore, accounts: AccountStore, faults: Faults) -> None:
        self._entries = entries
        self._accounts = accounts
        self._faults = faults
        # (driver, step (3)'s fields) of the entries not finished yet, in the order added.
        self._waiting: list[tuple[str, Document]] = []
        # Every entry this batch applied (finished or not): a copy later in the batch is not
        # announced again.
        self._ids: set[str] = set()

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._ids

    def add(self, driver_id: str, entry_id: str, mark: Document, applied_at: datetime) -> None:
        applied = {
            "entry_id": entry_id,
            "amount": mark["amount"],
            "seq": mark["seq"],
            "balance_after": mark["after"],
            "applied_at": applied_at,
        }
        self._waiting.append((driver_id, applied))
        self._ids.add(entry_id)

    async def flush(self) -> None:
        """Finish the entries added so far. Entries added while it runs wait for the next
        call; on a failure every entry stays to be sent again (both writes are idempotent)."""
        sending = list(self._waiting)
        if not sending:
            return
        self._faults.hit("points.ledger.batch_end")
        # Marked before settled, as one by one: an account never drops the mark of an entry
        # still pending, which only that mark lets a retry finish without applying it twice.
        await self._entries.mark_applied_many([applied for _, applied in sending])
        self._faults.hit("points.ledger.before_settle")
        marks: dict[str, list[str]] = {}
        for driver_id, applied in sending:
            marks.setdefault(driver_id, []).append(applied["entry_id"])
        await self._accounts.settle_many(marks)
        del self._waiting[: len(sending)]
