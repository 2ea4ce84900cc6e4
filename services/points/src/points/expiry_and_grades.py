"""Expiry and grades: the monthly jobs that expire old awards and re-grade accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from common.clock import Clock
from common.events import new_event
from common.events.points import GradeChanged
from common.outbox import outbox_entry
from points.domain import Account, AccountNotActive, Cause, Entry, entry_id, month_of, months_back
from points.grades import GradeAssessment, GradePolicy, assess
from points.ledger import EVENT_SOURCE, TOPIC, Ledger
from points.store.accounts import AccountStore


class ExpiryAndGrades:
    """The expiry and grade use cases of ``PointsService`` (which provides the parts)."""

    ledger: Ledger
    accounts: AccountStore
    grades: GradePolicy
    expiry_months: int
    _clock: Clock
    get_account: Callable[[str], Awaitable[Account]]

    def expiry_month(self, now: datetime | None = None) -> str:
        """Awards made up to this month have expired by ``now``."""
        return months_back(month_of(now or self._clock()), self.expiry_months + 1)

    async def expire(self, driver_id: str, through_month: str) -> Entry:
        now = self._clock()
        entry = Entry(
            entry_id=entry_id(driver_id, "expiry", through_month),
            driver_id=driver_id,
            kind="expiry",
            amount=0,
            cause=Cause(reason=f"points awarded up to {through_month} expired"),
            occurred_at=now,
            created_at=now,
            detail={"through_month": through_month, "awarded_through": f"{through_month}-01"},
        )
        return await self.ledger.post(entry)

    async def expire_all(self) -> int:
        """The expiry job: idempotent, safe with several instances running at once."""
        through = self.expiry_month()
        expired = 0
        after: str | None = None
        while ids := await self.accounts.ids(after, 500):
            for driver_id in ids:
                account = await self.accounts.get(driver_id)
                if account is None or (account.expired_through or "") >= through:
                    continue
                try:
                    entry = await self.expire(driver_id, through)
                except AccountNotActive:
                    continue
                expired += entry.state == "applied"
            after = ids[-1]
        return expired

    async def assess(self, driver_id: str) -> GradeAssessment:
        account = await self.get_account(driver_id)
        return assess(account, self.grades, month_of(self._clock()))

    async def refresh_grade(self, driver_id: str) -> bool:
        """Re-grade as months pass (points leave the window); announces a change once. A closed
        account (its driver erased) is left as it is: a change would name the driver again."""
        account = await self.get_account(driver_id)
        if account.status == "closed":
            return False
        now = self._clock()
        assessment = assess(account, self.grades, month_of(now))
        if assessment.grade == account.grade:
            return False
        event = new_event(
            GradeChanged(
                driver_id=driver_id,
                old_grade=account.grade,
                new_grade=assessment.grade,
                earned_last_12_months=assessment.earned,
                reasons=assessment.reasons,
                changed_at=now,
            ),
            source=EVENT_SOURCE,
            subject=driver_id,
            # Deterministic: several instances refreshing at once announce one change.
            event_id=f"{driver_id}:grade:{account.seq}:{month_of(now)}",
        )
        changed = await self.accounts.set_grade(
            driver_id,
            seq=account.seq,
            old=account.grade,
            new=assessment.grade,
            outbox=[outbox_entry(TOPIC, event)],
        )
        relay = self.ledger.relay()
        if changed and relay is not None:
            await relay.flush(self.accounts.collection, driver_id)
        return changed

    async def refresh_all_grades(self) -> int:
        changed = 0
        after: str | None = None
        while ids := await self.accounts.ids(after, 500):
            for driver_id in ids:
                changed += await self.refresh_grade(driver_id)
            after = ids[-1]
        return changed
