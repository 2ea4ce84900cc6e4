"""Posting ledger entries exactly once, without multi-document transactions.

An entry is (1) inserted with a deterministic id — the cause's dedupe key — as ``pending``;
(2) applied to the account by one conditional update pinned to the account's ``seq`` that also
records the entry id in the account's ``pending`` list; (3) marked ``applied`` with its exact
``balance_after``; (4) removed from the account's ``pending``; (5) announced on
``points.events`` (the entry is its own outbox record) and marked ``published``. The
announcement goes out before (3), which marks the entry published too; in a batched
subscription (3) and (4) are sent for the whole batch at its end (``points.finishes``).

Any step can be interrupted: re-running the whole sequence (redelivery, the sweeper) finishes
it without applying anything twice, because (2) is skipped when the account still lists the
entry as pending or the entry is already ``applied``, and the account is read *before* the
entry so an application that completed in between is always seen.

An award starts from the account its consent check read (``seen``), read before the entry was
inserted. When that insert is the entry's first, reading the entry back is skipped: nobody can
have applied an entry that did not exist yet without moving the account's ``seq`` past the one
read, and (2) is pinned to that ``seq``. A refusal (a cap reached, an account not active) is
only ever decided on a fresh read.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from common import batch_end
from common.bus import Publisher
from common.clock import Clock, utc_now
from common.events import CloudEvent, new_event
from common.events.base import EventData
from common.events.points import (
    GradeChanged,
    PointsAdjusted,
    PointsAwarded,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
)
from common.faults import Faults
from common.logging import get_logger
from common.outbox import RelayRef, no_relay, outbox_entry
from points.domain import Account, AccountNotActive, AccountNotFound, Entry, PointsError, month_of
from points.effects import Effect, Plan, account_after
from points.finishes import Finishes
from points.grades import GradePolicy, assess
from points.plans import plan_for
from points.store.accounts import AccountStore, Document, account_of
from points.store.entries import EntryStore

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/points"
TOPIC = "points.events"


class LedgerContention(PointsError):
    """The account kept changing under us; the caller retries (a transient condition)."""

    problem_detail = "the account is busy; retry shortly"

    def problem_headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class ConflictingEntry(PointsError):
    """The same cause was posted before with a different content."""

    @property
    def problem_detail(self) -> str:
        return self.message or "conflicting request"


class Ledger:
    def __init__(
        self,
        accounts: AccountStore,
        entries: EntryStore,
        publisher: Publisher,
        *,
        grades: GradePolicy,
        relay: RelayRef = no_relay,
        faults: Faults | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.accounts = accounts
        self.entries = entries
        self._publisher = publisher
        self._grades = grades
        self.relay = relay
        self._faults = faults or Faults()
        self._clock = clock

    async def post(
        self, entry: Entry, *, same_cause: bool = True, seen: Document | None = None
    ) -> Entry:
        """Insert (or find) and apply an entry exactly once; returns its final state.

        With ``same_cause`` an existing entry must have the same cause (an event replayed with
        another payload is refused); corrections asked twice by different operators are the
        same correction, so they pass ``same_cause=False``. ``seen`` is the entry's account as
        the caller read it before this call (never after: see the module's note).
        """
        if seen is not None and seen.get("_id") != entry.driver_id:
            seen = None  # another driver's account: never a starting point for this entry
        existing = await self.entries.insert(entry)
        self._faults.hit("points.ledger.after_insert")
        if existing is None and seen is not None:
            return await self._apply(entry, plan_for(entry), seen)
        if existing is not None:
            if (existing.kind, existing.reverses) != (entry.kind, entry.reverses) or (
                same_cause and existing.cause != entry.cause
            ):
                raise ConflictingEntry(entry.entry_id)
            entry = existing
            if entry.state == "rejected":
                return entry
        if entry.state == "pending":
            return await self._apply(entry, plan_for(entry))
        if entry.state == "applied":
            if not entry.published:
                await self._announce(entry)
            # The pending mark is cleared in a write of its own, which a crash or a cancelled
            # operation can miss after the entry was marked applied: clear it on every replay.
            await self.accounts.settle(entry.driver_id, entry.entry_id)
        return entry

    async def _apply(self, entry: Entry, plan: Plan, seen: Document | None = None) -> Entry:
        """``seen``: the account read before this entry's first insert (see the module)."""
        for _ in range(200):
            step = await self._apply_once(entry, plan, seen)
            seen = None
            if isinstance(step, Entry):
                return step
            if step is not None:
                return await self._finish(entry, step)
        raise LedgerContention(entry.driver_id)

    async def _apply_once(
        self, entry: Entry, plan: Plan, seen: Document | None
    ) -> Entry | Document | None:
        """One attempt at (2): the account's pending mark for the entry once it is applied,
        the entry when it needs nothing more, or None to try again on a fresh read."""
        doc = seen or await self.accounts.raw(entry.driver_id)
        if doc is None:
            raise AccountNotFound(entry.driver_id)
        marks: list[Document] = doc.get("pending", [])
        mark = next((p for p in marks if p["id"] == entry.entry_id), None)
        if mark is not None:
            return mark
        if seen is None:
            current = await self.entries.get(entry.entry_id)
            if current is None:
                raise RuntimeError(f"entry {entry.entry_id} vanished")
            if current.state != "pending":
                return current
        account = account_of(doc)
        outcome = self._decide(plan, account, doc, refuse=seen is None)
        if outcome is None:
            return None
        if isinstance(outcome, str):
            await self.entries.mark_rejected(entry.entry_id, outcome)
            return await self.entries.get(entry.entry_id) or entry
        mark = {
            "id": entry.entry_id,
            "seq": account.seq + 1,
            "after": account.balance + outcome.amount,
            "amount": outcome.amount,
        }
        grade_set, grade_outbox = self._grade_change(account, outcome, mark)
        applied = await self.accounts.apply(
            entry.driver_id,
            planned_on=doc,
            guard=outcome.guard(),
            inc={"balance": outcome.amount, **outcome.inc},
            pending=mark,
            set_fields={**outcome.set_fields, **grade_set},
            unset_fields=outcome.unset_fields,
            outbox=grade_outbox,
        )
        if not applied:
            return None
        self._faults.hit("points.ledger.after_apply")
        relay = self.relay()
        if grade_outbox and relay is not None:
            await relay.flush(self.accounts.collection, entry.driver_id)
        return mark

    @staticmethod
    def _decide(
        plan: Plan, account: Account, doc: Document, *, refuse: bool
    ) -> Effect | str | None:
        """The plan's outcome; without ``refuse`` (an account read earlier) a refusal becomes
        None, to be decided again on a fresh read."""
        try:
            outcome = plan(account, doc)
        except AccountNotActive:
            if refuse:
                raise
            return None
        if isinstance(outcome, str) and not refuse:
            return None
        return outcome

    async def _finish(self, entry: Entry, mark: Document) -> Entry:
        """(3) to (5) for an entry applied to its account as ``mark`` says."""
        applied_entry = entry.model_copy(
            update={
                "state": "applied",
                "amount": mark["amount"],
                "seq": mark["seq"],
                "balance_after": mark["after"],
            }
        )
        # Announce before marking: a crash in between announces again (same event id),
        # never not at all; the entry then becomes applied and published in one write.
        end = batch_end.current()
        # In a batched subscription (3) and (4) are sent for the whole batch before its commit.
        finishes = None if end is None else end.part(self, self._finishes)
        if finishes is not None and entry.entry_id in finishes:
            # A copy of a record earlier in this batch: applied and announced already.
            return applied_entry.model_copy(update={"published": True})
        self._faults.hit("points.ledger.before_publish")
        await self._publisher.publish(TOPIC, self.event_of(applied_entry))
        applied_at = self._clock()
        # Unless the batch ended while the announcement went out (nothing would send them).
        if end is not None and finishes is not None and not end.ended:
            finishes.add(entry.driver_id, entry.entry_id, mark, applied_at)
            return applied_entry.model_copy(update={"published": True})
        await self.entries.mark_applied(
            entry.entry_id,
            amount=mark["amount"],
            seq=mark["seq"],
            balance_after=mark["after"],
            applied_at=applied_at,
        )
        self._faults.hit("points.ledger.before_settle")
        await self.accounts.settle(entry.driver_id, entry.entry_id)
        return applied_entry.model_copy(update={"published": True})

    def _finishes(self) -> Finishes:
        return Finishes(self.entries, self.accounts, self._faults)

    def _grade_change(
        self, account: Account, outcome: Effect, mark: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        after = account_after(account, outcome)
        now = self._clock()
        assessment = assess(after, self._grades, month_of(now))
        if assessment.grade == account.grade:
            return {}, []
        event = new_event(
            GradeChanged(
                driver_id=account.driver_id,
                old_grade=account.grade,
                new_grade=assessment.grade,
                earned_last_12_months=assessment.earned,
                reasons=assessment.reasons,
                changed_at=now,
            ),
            source=EVENT_SOURCE,
            subject=account.driver_id,
            event_id=f"{account.driver_id}:grade:{mark['seq']}",
        )
        return {"grade": assessment.grade}, [outbox_entry(TOPIC, event)]

    async def _announce(self, entry: Entry) -> None:
        """Announce an applied entry left unpublished by an older version or a failed publish."""
        await self._publisher.publish(TOPIC, self.event_of(entry))
        await self.entries.mark_published(entry.entry_id)

    def event_of(self, entry: Entry) -> CloudEvent:
        if entry.balance_after is None:
            raise ValueError("only applied entries are announced")
        # To the millisecond, as the store keeps it: an entry announced again after a crash
        # (read back from the store) must carry the same payload, or consumers would take the
        # second announcement for a conflicting one under the same id.
        at = entry.created_at.replace(microsecond=entry.created_at.microsecond // 1000 * 1000)
        data: EventData
        match entry.kind:
            case "award":
                data = PointsAwarded(
                    driver_id=entry.driver_id,
                    entry_id=entry.entry_id,
                    amount=entry.amount,
                    balance_after=entry.balance_after,
                    rule_id=f"{entry.rule_id}@v{entry.rule_version}",
                    cause_source=entry.cause.source or "",
                    cause_id=entry.cause.event_id or "",
                    cause_type=entry.cause.event_type or "",
                    awarded_at=at,
                )
            case "redemption":
                data = PointsRedeemed(
                    driver_id=entry.driver_id,
                    entry_id=entry.entry_id,
                    amount=-entry.amount,
                    balance_after=entry.balance_after,
                    redemption_id=str(entry.detail.get("redemption_id", "")),
                    reward_id=str(entry.detail.get("reward_id", "")),
                    redeemed_at=at,
                )
            case "reversal":
                data = PointsReversed(
                    driver_id=entry.driver_id,
                    entry_id=entry.entry_id,
                    amount=entry.amount,
                    balance_after=entry.balance_after,
                    reversed_entry_id=entry.reverses or "",
                    reason=entry.cause.reason or "",
                    reversed_at=at,
                )
            case "expiry":
                data = PointsExpired(
                    driver_id=entry.driver_id,
                    entry_id=entry.entry_id,
                    amount=-entry.amount,
                    balance_after=entry.balance_after,
                    awarded_through=date.fromisoformat(
                        str(entry.detail.get("awarded_through", at.date().isoformat()))
                    ),
                    expired_at=at,
                )
            case "adjustment":
                data = PointsAdjusted(
                    driver_id=entry.driver_id,
                    entry_id=entry.entry_id,
                    amount=entry.amount,
                    balance_after=entry.balance_after,
                    reason=entry.cause.reason or "",
                    sanction=entry.sanction,
                    adjusted_at=at,
                )
        return new_event(
            data, source=EVENT_SOURCE, subject=entry.driver_id, event_id=entry.entry_id
        )

    async def finish_unfinished(self) -> int:
        """The sweeper: finish entries a crash left half-done (idempotent)."""
        done = 0
        cutoff = self._clock() - timedelta(seconds=10)
        for entry in await self.entries.unfinished(cutoff):
            try:
                await self.post(entry)
                done += 1
            except AccountNotActive as exc:
                if exc.status == "closed":  # the driver was erased: it can never apply
                    await self.entries.mark_rejected(entry.entry_id, "the account is closed")
            except AccountNotFound:
                continue
        return done + await self._settle_stale_marks()

    async def _settle_stale_marks(self) -> int:
        """Clear pending marks whose entries are applied and announced (a missed last step)."""
        settled = 0
        for doc in await self.accounts.with_pending():
            for mark in doc.get("pending", []):
                current = await self.entries.get(mark["id"])
                if current is not None and current.state == "applied" and current.published:
                    await self.accounts.settle(doc["_id"], mark["id"])
                    settled += 1
        return settled
