"""Operator corrections of the ledger: reversals and adjustments, each applied once."""

from __future__ import annotations

from common.clock import Clock
from points.domain import Cause, Entry, EntryNotFound, NotReversible, entry_id, month_of
from points.ledger import ConflictingEntry, Ledger


class Corrections:
    """The correction use cases of ``PointsService`` (which provides the ledger and clock)."""

    ledger: Ledger
    _clock: Clock

    async def reverse(
        self, original_id: str, *, operator: str, reason: str, refund: bool = False
    ) -> Entry:
        """Undo an award exactly once, however often it is asked; with ``refund`` (the mall
        cancelling a redemption) give a redemption's points back the same way."""
        original = await self.ledger.entries.get(original_id)
        if original is None or original.state != "applied":
            raise EntryNotFound(original_id)
        if original.kind == "redemption" and not refund:
            # Only the mall knows whether the reward was handed over: a refund outside its
            # cancellation would credit points for a reward the driver keeps, by one person.
            raise NotReversible(
                "a redemption is refunded by cancelling it: POST /v1/redemptions/{id}/cancel"
            )
        if original.kind not in ("award", "redemption"):
            raise NotReversible(f"a {original.kind} entry cannot be reversed")
        entry = Entry(
            entry_id=entry_id(original.driver_id, "reversal", original.entry_id),
            driver_id=original.driver_id,
            kind="reversal",
            amount=-original.amount,
            cause=Cause(operator=operator, reason=reason),
            occurred_at=self._clock(),
            created_at=self._clock(),
            reverses=original.entry_id,
            detail={
                "original_kind": original.kind,
                "original_amount": original.amount,
                # Taken back from the month it was counted in (older awards: their event's).
                "original_month": original.detail.get("earned_month")
                or month_of(original.occurred_at),
            },
        )
        return await self._post_correction(entry)

    async def adjust(
        self,
        driver_id: str,
        amount: int,
        *,
        operator: str,
        reason: str,
        request_id: str,
        sanction: bool = False,
        approved_by: str | None = None,
    ) -> Entry:
        now = self._clock()
        detail: dict[str, object] = {"requested": amount}
        if approved_by is not None:  # four eyes: the second person, beside the maker
            detail["approved_by"] = approved_by
        entry = Entry(
            entry_id=entry_id(driver_id, "adjustment", operator, request_id),
            driver_id=driver_id,
            kind="adjustment",
            amount=amount,
            cause=Cause(operator=operator, reason=reason),
            occurred_at=now,
            created_at=now,
            sanction=sanction,
            detail=detail,
        )
        existing = await self.ledger.entries.get(entry.entry_id)
        if existing is not None and not _same_adjustment(existing, amount, reason, sanction):
            raise ConflictingEntry("this request id was used for another adjustment")
        posted = await self._post_correction(entry)
        # Two different adjustments under one request id at once both pass the look above; the
        # ledger keeps the first, and the other must not answer as if it were applied.
        if not _same_adjustment(posted, amount, reason, sanction):
            raise ConflictingEntry("this request id was used for another adjustment")
        return posted

    async def _post_correction(self, entry: Entry) -> Entry:
        # The same correction asked again (by anyone) is the same entry, applied once.
        return await self.ledger.post(entry, same_cause=False)


def _same_adjustment(entry: Entry, amount: int, reason: str, sanction: bool) -> bool:
    asked = (amount, reason, sanction)
    return (entry.detail.get("requested"), entry.cause.reason, entry.sanction) == asked
