"""Points use cases: open and close accounts, earn, reverse, adjust, expire, grade."""

from __future__ import annotations

import time
from datetime import datetime

from common.clock import Clock
from common.events import CloudEvent, InvalidEvent, new_event
from common.events.cases import CaseCompensationGranted
from common.events.points import GradeChanged
from common.idempotency import fingerprint
from common.logging import get_logger
from common.outbox import outbox_entry
from points.domain import (
    Account,
    AccountNotActive,
    AccountNotFound,
    Cause,
    Entry,
    EntryNotFound,
    NotReversible,
    entry_id,
    month_of,
    months_back,
)
from points.grades import GradeAssessment, GradePolicy, assess
from points.ledger import EVENT_SOURCE, TOPIC, ConflictingEntry, Ledger
from points.parking import Parking, parked_reason
from points.rules import Rule, choose_rule
from points.store.accounts import AccountStore
from points.store.rules import RuleStore

log = get_logger(__name__)

RULE_CACHE_SECONDS = 5.0
COMPENSATION_TYPE = CaseCompensationGranted.event_type


class PointsService:
    def __init__(
        self,
        ledger: Ledger,
        rules: RuleStore,
        parking: Parking,
        *,
        grades: GradePolicy,
        expiry_months: int,
        clock: Clock,
        max_goodwill_points: int = 500,
    ) -> None:
        self.ledger = ledger
        self.max_goodwill_points = max_goodwill_points
        self.accounts: AccountStore = ledger.accounts
        self.rules = rules
        self.parking = parking
        self.parked = parking.parked
        self.grades = grades
        self.expiry_months = expiry_months
        self._clock = clock
        self._rule_cache: tuple[float, list[Rule]] | None = None

    def ledger_clock(self) -> datetime:
        return self._clock()

    # accounts -------------------------------------------------------------------------
    async def open_account(
        self,
        driver_id: str,
        opened_at: datetime,
        fleet: str | None = None,
        grid: str | None = None,
    ) -> Account:
        account = await self.accounts.open(driver_id, opened_at, fleet=fleet, grid=grid)
        if account.status == "frozen":
            await self.accounts.set_status(driver_id, "active", only_from="frozen")
        await self.release_parked(driver_id)
        return account

    async def deactivate(self, driver_id: str, *, erased: bool) -> None:
        """Freeze (or close, when the driver's data was erased); nothing is deleted."""
        if await self.accounts.get(driver_id) is None:
            return
        await self.accounts.set_status(driver_id, "closed" if erased else "frozen")

    async def regroup(
        self,
        driver_id: str,
        *,
        fleet: tuple[str | None] | None,
        grid: tuple[str | None] | None,
    ) -> None:
        """Follow the driver's fleet and grid (for leaderboards); None means unchanged."""
        values: dict[str, str | None] = {}
        if fleet is not None:
            values["fleet"] = fleet[0]
        if grid is not None:
            values["grid"] = grid[0]
        await self.accounts.set_grouping(driver_id, values)

    async def reactivate(self, driver_id: str) -> None:
        """Thaw a frozen account and apply what was parked meanwhile; closed stays closed."""
        account = await self.accounts.get(driver_id)
        if account is None or account.status != "frozen":
            return
        await self.accounts.set_status(driver_id, "active", only_from="frozen")
        await self.release_parked(driver_id)

    async def get_account(self, driver_id: str) -> Account:
        account = await self.accounts.get(driver_id)
        if account is None:
            raise AccountNotFound(driver_id)
        return account

    # earning --------------------------------------------------------------------------
    async def earn(self, event: CloudEvent) -> Entry | None:
        """Award the points an event earns under the rule in force at the event's time."""
        if event.type == COMPENSATION_TYPE:
            return await self.ledger.post(self._compensation(event))
        rule = choose_rule(await self._current_rules(), event.type, event.data, event.time)
        if rule is None:
            return None
        requested = rule.base_points(event.data)
        if requested <= 0:
            return None
        entry = Entry(
            entry_id=entry_id(event.subject, "award", event.source, event.id),
            driver_id=event.subject,
            kind="award",
            amount=requested,
            cause=Cause(
                source=event.source,
                event_id=event.id,
                event_type=event.type,
                fingerprint=fingerprint(event),
            ),
            rule_id=rule.rule_id,
            rule_version=rule.version,
            occurred_at=event.time,
            created_at=self._clock(),
            detail={
                "requested": requested,
                "rule_name": rule.name,
                "cap_per_day": rule.cap_per_day,
                "cap_per_month": rule.cap_per_month,
            },
        )
        return await self.ledger.post(entry)

    def _compensation(self, event: CloudEvent) -> Entry:
        """The cases service's compensation: credited once per compensation id, no earning-rule
        caps, but never above the cases service's own maximum (re-checked here: a forged or
        mistaken grant is dead-lettered, not credited)."""
        data = CaseCompensationGranted.model_validate(event.data)
        if data.amount > self.max_goodwill_points:
            raise InvalidEvent(
                "compensation_above_maximum",
                f"{data.amount} points exceed the maximum compensation of "
                f"{self.max_goodwill_points}",
            )
        return Entry(
            entry_id=entry_id(event.subject, "award", event.source, data.compensation_id),
            driver_id=event.subject,
            kind="award",
            amount=data.amount,
            cause=Cause(
                source=event.source,
                event_id=event.id,
                event_type=event.type,
                fingerprint=fingerprint(event),
                reason=f"case {data.case_id}: {data.kind}",
            ),
            rule_id="case-compensation",
            rule_version=1,
            occurred_at=data.granted_at,
            created_at=self._clock(),
            detail={
                "requested": data.amount,
                "rule_name": "Compensation granted by the cases service",
                "case_id": data.case_id,
                "compensation_id": data.compensation_id,
            },
        )

    async def earn_or_park(self, event: CloudEvent, *, partner: bool) -> Entry | None:
        try:
            return await self.earn(event)
        except (AccountNotFound, AccountNotActive) as exc:
            await self.parking.park(event, partner=partner, reason=parked_reason(exc))
        # The account may have opened between the attempt and the parking: try once more.
        account = await self.accounts.get(event.subject)
        if account is not None and account.status == "active":
            await self.release_parked(event.subject)
        return None

    async def release_parked(self, driver_id: str) -> int:
        released = 0
        for held in await self.parked.for_driver(driver_id):
            try:
                await self.earn(held.event)
            except (AccountNotFound, AccountNotActive):
                return released
            await self.parking.release(held)
            released += 1
        if released:
            log.info("parked events applied", driver_id=driver_id, count=released)
        return released

    async def sweep_parked(self) -> int:
        """Apply what waits for accounts now active; give up what was held too long."""
        for driver_id in await self.parked.drivers():
            account = await self.accounts.get(driver_id)
            if account is not None and account.status == "active":
                await self.release_parked(driver_id)
        given_up = 0
        for held in await self.parked.due(self._clock()):
            account = await self.accounts.get(held.event.subject)
            if account is not None and account.status == "active":
                continue  # opened meanwhile: the next round applies it
            await self.parking.give_up(held)
            given_up += 1
        return given_up

    async def _current_rules(self) -> list[Rule]:
        now = time.monotonic()
        if self._rule_cache is None or now - self._rule_cache[0] > RULE_CACHE_SECONDS:
            self._rule_cache = (now, await self.rules.current())
        return self._rule_cache[1]

    def forget_rule_cache(self) -> None:
        self._rule_cache = None

    # corrections ----------------------------------------------------------------------
    async def reverse(self, original_id: str, *, operator: str, reason: str) -> Entry:
        """Undo an award (or refund a redemption) exactly once, however often it is asked."""
        original = await self.ledger.entries.get(original_id)
        if original is None or original.state != "applied":
            raise EntryNotFound(original_id)
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
                "original_month": month_of(original.occurred_at),
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
    ) -> Entry:
        now = self._clock()
        entry = Entry(
            entry_id=entry_id(driver_id, "adjustment", operator, request_id),
            driver_id=driver_id,
            kind="adjustment",
            amount=amount,
            cause=Cause(operator=operator, reason=reason),
            occurred_at=now,
            created_at=now,
            sanction=sanction,
            detail={"requested": amount},
        )
        existing = await self.ledger.entries.get(entry.entry_id)
        if existing is not None and (
            existing.detail.get("requested"),
            existing.cause.reason,
            existing.sanction,
        ) != (amount, reason, sanction):
            raise ConflictingEntry("this request id was used for another adjustment")
        return await self._post_correction(entry)

    async def _post_correction(self, entry: Entry) -> Entry:
        # The same correction asked again (by anyone) is the same entry, applied once.
        return await self.ledger.post(entry, same_cause=False)

    # expiry and grades ----------------------------------------------------------------
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
        """Re-grade as months pass (points leave the window); announces a change once."""
        account = await self.get_account(driver_id)
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
        if changed and self.ledger.relay is not None:
            await self.ledger.relay.flush(self.accounts.collection, driver_id)
        return changed

    async def refresh_all_grades(self) -> int:
        changed = 0
        after: str | None = None
        while ids := await self.accounts.ids(after, 500):
            for driver_id in ids:
                changed += await self.refresh_grade(driver_id)
            after = ids[-1]
        return changed
