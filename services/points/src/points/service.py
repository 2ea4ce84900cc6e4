"""Points use cases: open and close accounts, earn, park (corrections, expiry and grades are
mixed in from their own modules)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from common.clock import Clock
from common.events.cases import CaseCompensationGranted
from common.events.registry import DriverKind
from common.logging import get_logger
from points.corrections import Corrections
from points.domain import (
    Account,
    AccountNotActive,
    AccountNotFound,
    Entry,
    entry_id,
    month_of,
)
from points.earning import (
    Earning,
    EventInFuture,
    RuleDecision,
    award_entry,
    compensation_entry,
)
from points.expiry_and_grades import ExpiryAndGrades
from points.grades import GradePolicy
from points.ledger import Ledger
from points.parking import Parking, parked_reason
from points.rules import Rule, choose_rule
from points.store.accounts import AccountStore, Document
from points.store.review import HeldForReview, hold_id
from points.store.rules import RuleStore
from points.store.station_awards import StationAwards

log = get_logger(__name__)

RULE_CACHE_SECONDS = 5.0
COMPENSATION_TYPE = CaseCompensationGranted.event_type
TOO_OLD = "event_too_old"
ABOVE_STATION_THRESHOLD = "station_threshold"
ACTIVITY_TYPE = "activity.attended.v1"


@dataclass(frozen=True)
class EarningWindow:
    """Which event times points accepts, measured against its own clock when it receives."""

    max_age: timedelta = timedelta(days=30)
    max_future: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class PointsPolicy:
    """The configured limits of points: grades, expiry, goodwill ceiling, accepted event times."""

    grades: GradePolicy
    expiry_months: int
    max_goodwill_points: int = 500
    window: EarningWindow = field(default_factory=EarningWindow)


class PointsService(Corrections, ExpiryAndGrades):
    """Points use cases: accounts and earning here; corrections and expiry and grades in their
    own modules."""

    def __init__(
        self,
        ledger: Ledger,
        rules: RuleStore,
        parking: Parking,
        *,
        policy: PointsPolicy,
        clock: Clock,
        review: HeldForReview | None = None,
        station_awards: StationAwards | None = None,
    ) -> None:
        self.ledger = ledger
        self.window = policy.window
        self.review = review
        self.station_awards = station_awards
        self.max_goodwill_points = policy.max_goodwill_points
        self.accounts: AccountStore = ledger.accounts
        self.rules = rules
        self.parking = parking
        self.parked = parking.parked
        self.grades = policy.grades
        self.expiry_months = policy.expiry_months
        self._clock = clock
        self._rule_cache: tuple[float, list[Rule]] | None = None
        # The service's erasure steps for one driver (set when the erasure is wired): run
        # again when something about a driver was stored as their erasure ran.
        self.forget_erased: Callable[[str], Awaitable[object]] | None = None

    def ledger_clock(self) -> datetime:
        return self._clock()

    # accounts -------------------------------------------------------------------------
    async def open_account(
        self,
        driver_id: str,
        opened_at: datetime,
        fleet: str | None = None,
        grid: str | None = None,
        kind: DriverKind = "container_truck",
    ) -> Account:
        account = await self.accounts.open(driver_id, opened_at, fleet=fleet, grid=grid, kind=kind)
        if account.status == "frozen":
            # Only over an older status: a registration replayed from its dead-letter queue
            # after the driver's deactivation must not thaw the account.
            await self.accounts.set_status(
                driver_id, "active", only_from="frozen", announced_at=opened_at
            )
        await self.release_parked(driver_id)
        return account

    async def deactivate(
        self, driver_id: str, *, erased: bool, announced_at: datetime | None = None
    ) -> None:
        """Freeze (or close, when the driver's data was erased: always); nothing is deleted.
        A freeze announced before the account's last status change changes nothing."""
        if await self.accounts.get(driver_id) is None:
            return
        if erased:
            await self.accounts.set_status(driver_id, "closed")
        else:
            await self.accounts.set_status(driver_id, "frozen", announced_at=announced_at)

    async def regroup(
        self,
        driver_id: str,
        *,
        fleet: tuple[str | None] | None,
        grid: tuple[str | None] | None,
        kind: DriverKind | None = None,
        at: datetime,
    ) -> None:
        """Follow the driver's fleet and grid (for leaderboards) and kind (rules restricted to
        kinds) as the registry announced them at ``at``; None means unchanged. A closed
        (erased) account keeps none."""
        values: dict[str, str | None] = {}
        if kind is not None:
            values["kind"] = kind
        if fleet is not None:
            values["fleet"] = fleet[0]
        if grid is not None:
            values["grid"] = grid[0]
        await self.accounts.set_grouping(driver_id, values, at)

    async def reactivate(self, driver_id: str, announced_at: datetime | None = None) -> None:
        """Thaw a frozen account and apply what was parked meanwhile; closed stays closed, and a
        reactivation announced before the account's last status change changes nothing."""
        account = await self.accounts.get(driver_id)
        if account is None or account.status != "frozen":
            return
        if await self.accounts.set_status(
            driver_id, "active", only_from="frozen", announced_at=announced_at
        ):
            await self.release_parked(driver_id)

    async def get_account(self, driver_id: str) -> Account:
        account = await self.accounts.get(driver_id)
        if account is None:
            raise AccountNotFound(driver_id)
        return account

    # earning --------------------------------------------------------------------------
    async def _kind_if_needed(self, rules: list[Rule], earning: Earning) -> DriverKind:
        """The driver's kind, read only when a rule for the event is restricted to kinds."""
        if not any(r.driver_kinds for r in rules if r.event_type == earning.event_type):
            return "container_truck"
        account = await self.accounts.get(earning.driver_id)
        return account.kind if account else "container_truck"

    async def earn(self, earning: Earning, *, account: Document | None = None) -> Entry | None:
        """Award the points an event earns under the rule in force at the event's time.

        Caps and expiry count from when points records the entry (its ``created_at``, the
        ledger's clock), so the time a sender writes into an event chooses the rule (campaign
        windows) but can neither multiply a daily cap nor postpone expiry. ``account`` is the
        driver's account as read before this call (the consent check's), for the ledger.
        """
        if earning.event_type == COMPENSATION_TYPE:
            maximum = self.max_goodwill_points
            return await self.ledger.post(compensation_entry(earning, maximum, self._clock()))
        decision = await self.decide(earning)
        if decision.award is None:
            return None
        return await self.ledger.post(decision.award, seen=account)

    async def decide(self, earning: Earning) -> RuleDecision:
        """Which rule an earning event falls under and the award it asks (caps not yet
        applied: the ledger applies them to the account). The rule simulator asks the same."""
        rules = await self._current_rules()
        kind = await self._kind_if_needed(rules, earning)
        rule = choose_rule(rules, earning.event_type, earning.data, earning.occurred_at, kind)
        asked = rule.base_points(earning.data) if rule is not None else 0
        award = award_entry(earning, rule, asked, self._clock()) if rule and asked > 0 else None
        return RuleDecision(rules=rules, kind=kind, rule=rule, asked=asked, award=award)

    async def earn_or_park(
        self, earning: Earning, *, account: Document | None = None
    ) -> Entry | None:
        """An earning as received from the bus: judged by its time first."""
        if not await self._admit(earning):
            return None
        return await self.credit_or_park(earning, account=account)

    async def _admit(self, earning: Earning) -> bool:
        """False when the event is held for review; refuses one dated in the future."""
        if earning.event_type == COMPENSATION_TYPE:
            # Granted by a caseworker and bounded by max_goodwill_points, not by a sender's
            # clock; its time is the grant's, which a full replay must not turn into a hold.
            return True
        now = self._clock()
        too_old = self.too_old(earning, now)
        if self.review is None:
            return True
        counted = earning.event_type == ACTIVITY_TYPE and self.station_awards is not None
        if not (too_old or counted) or await self._received_before(earning):
            return True  # a replay included: the ledger (or the parking) already decided it
        if await self.review.get(hold_id(earning)) is not None:
            return False  # held before: only the operator's decision credits it
        reason = TOO_OLD
        if not too_old and self.station_awards is not None:
            # Any station token can create activities and mark attendance: past a monthly
            # threshold per station, attendance earns only once an operator has looked.
            station = str(earning.data.get("station_id") or "")
            if await self.station_awards.take(station, month_of(now), earning.key):
                return True
            reason = ABOVE_STATION_THRESHOLD
        held = await self.review.hold(earning, reason=reason, now=now)
        log.warning(
            "earning event held for review",
            event_type=earning.event_type,
            hold_id=held.hold_id,
            reason=held.reason,
        )
        await self.forget_if_erased(earning.driver_id)
        return False

    def too_old(self, earning: Earning, now: datetime) -> bool:
        """Whether the event is dated before the accepted window (then held for review);
        one dated in the future is refused."""
        if earning.occurred_at > now + self.window.max_future:
            raise EventInFuture(
                f"{earning.event_type} is dated {earning.occurred_at.isoformat()}, after "
                f"{now.isoformat()} (plus {self.window.max_future} allowed for clock skew)"
            )
        return earning.occurred_at < now - self.window.max_age

    async def _received_before(self, earning: Earning) -> bool:
        award = entry_id(earning.driver_id, "award", earning.source, earning.event_id)
        if await self.ledger.entries.raw(award):
            return True
        return await self.parked.collection.find_one({"_id": earning.key}) is not None

    async def credit_or_park(
        self, earning: Earning, *, account: Document | None = None
    ) -> Entry | None:
        """Credit an admitted event, or hold it for its driver's account (no window check)."""
        try:
            return await self.earn(earning, account=account)
        except (AccountNotFound, AccountNotActive) as exc:
            await self.parking.park(earning, reason=parked_reason(exc))
        # The account may have opened between the attempt and the parking: try once more.
        opened = await self.accounts.get(earning.driver_id)
        if opened is not None and opened.status == "active":
            await self.release_parked(earning.driver_id)
        elif opened is not None and opened.status == "closed":
            await self._forget(earning.driver_id)
        return None

    async def forget_if_erased(self, driver_id: str) -> None:
        """After storing something about a driver: if their erasure ran meanwhile (a closed
        account), its steps run again. The erasure closes the account before its steps, so
        either they ran after this write or this read sees the account closed."""
        account = await self.accounts.get(driver_id)
        if account is not None and account.status == "closed":
            await self._forget(driver_id)

    async def _forget(self, driver_id: str) -> None:
        if self.forget_erased is not None:
            log.info("stored about a driver erased meanwhile: forgotten again")
            await self.forget_erased(driver_id)

    async def release_parked(self, driver_id: str) -> int:
        released = 0
        for held in await self.parked.for_driver(driver_id):
            try:
                await self.earn(held.earning)
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
            account = await self.accounts.get(held.earning.driver_id)
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
